// Resumable uploads for the page, with tus-js-client against drop's tus endpoint.
//
// drop.js owns the form and its progress bar; when tus is usable it hands the chosen
// file to DropResumable.start instead of posting the form. The file goes up in chunks
// (data-chunk-bytes, 8 MiB by default, so no proxy's body cap bites), survives a broken
// connection (it resumes from the server's offset when the network is back) and a page
// reload (tus-js-client remembers the upload's URL in localStorage; choosing the same
// file again continues it). Without JavaScript, or without tus support, the plain
// multipart form is used as before.
(function () {
  "use strict";

  // Quick retries for a hiccup; after those the upload waits for the browser to say it
  // is online again, or retries every WAIT_MS while it believes it still is.
  var RETRY_DELAYS = [0, 1000, 3000, 5000, 10000];
  var WAIT_MS = 15000;

  function usable(form) {
    return Boolean(window.tus && window.tus.isSupported && form.dataset.tusEndpoint);
  }

  function uploadId(url) {
    return url.replace(/\/+$/, "").split("/").pop();
  }

  // Speed over the last few seconds, not since the start: after a pause or a resume the
  // average since the start says little about the time left.
  function rateMeter() {
    var samples = [];
    return {
      add: function (bytes) {
        var now = performance.now();
        samples.push([now, bytes]);
        while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
      },
      reset: function () { samples = []; },
      bytesPerSecond: function () {
        if (samples.length < 2) return 0;
        var first = samples[0], last = samples[samples.length - 1];
        var seconds = (last[0] - first[0]) / 1000;
        return seconds > 0 ? (last[1] - first[1]) / seconds : 0;
      },
    };
  }

  // ui: {progress(sent, total, bytesPerSecond), status(words), done(resultUrl),
  //      failed(heading, detail), cancelled()}
  function start(form, file, ui) {
    var values = new FormData(form);
    var password = values.get("password") || "";
    var metadata = {
      filename: file.name,
      filetype: file.type || "application/octet-stream",
      expires_in: String(values.get("expires_in") || ""),
      max_downloads: String(values.get("max_downloads") || ""),
    };
    if (password) metadata.password = password;
    var meter = rateMeter();
    var waiting = null;
    var finished = false;
    var upload;

    function retryLater() {
      if (waiting || finished) return;
      ui.status("Connection lost: the upload continues when the network is back");
      var resume = function () {
        window.removeEventListener("online", resume);
        window.clearTimeout(waiting);
        waiting = null;
        if (finished) return;
        ui.status("Resuming");
        meter.reset();
        upload.start();
      };
      window.addEventListener("online", resume);
      waiting = window.setTimeout(resume, WAIT_MS);
    }

    upload = new window.tus.Upload(file, {
      endpoint: form.dataset.tusEndpoint,
      chunkSize: parseInt(form.dataset.chunkBytes, 10),
      retryDelays: RETRY_DELAYS,
      metadata: metadata,
      // tus-js-client keeps an upload's metadata in localStorage to resume it after a
      // reload; a password must never be written there, so protected uploads resume
      // within the page only.
      storeFingerprintForResuming: !password,
      removeFingerprintOnSuccess: true,
      onProgress: function (sent, total) {
        meter.add(sent);
        ui.progress(sent, total, meter.bytesPerSecond());
      },
      onShouldRetry: function (error) {
        var response = error.originalResponse;
        var status = response ? response.getStatus() : 0;
        // A refusal (too large, a bad option, a quota) will not change by retrying.
        return status === 0 || status >= 500 || status === 409 || status === 423;
      },
      onError: function (error) {
        var response = error.originalResponse;
        var status = response ? response.getStatus() : 0;
        if (status === 0 || status >= 500) {
          retryLater();
          return;
        }
        finished = true;
        ui.failed("The upload was refused", refusal(response));
      },
      onSuccess: function () {
        finished = true;
        ui.done("/uploaded/" + uploadId(upload.url));
      },
    });

    upload.findPreviousUploads().then(function (previous) {
      if (previous.length > 0) {
        ui.status("Resuming an earlier upload of this file");
        upload.resumeFromPreviousUpload(previous[0]);
      }
      upload.start();
    });

    return {
      cancel: function () {
        finished = true;
        window.clearTimeout(waiting);
        // abort(true) also terminates the upload, so the server frees its bytes at once.
        upload.abort(true).then(ui.cancelled, ui.cancelled);
      },
    };
  }

  // drop answers a refusal with JSON {"error": ..., "detail": ...}; show its words.
  function refusal(response) {
    try {
      var answer = JSON.parse(response.getBody());
      return answer.detail || answer.error || "";
    } catch (notJson) {
      return "";
    }
  }

  window.DropResumable = { usable: usable, start: start };
})();
