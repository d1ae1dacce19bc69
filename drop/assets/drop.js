// drop's page behaviour on top of htmx: the drop zone, the size check before sending,
// the progress bar with cancel, readable network errors, and the copy button.
// Without JavaScript the same form posts normally and the server answers with a page.
(function () {
  "use strict";

  function formatBytes(bytes) {
    if (bytes < 1000) return bytes + " bytes";
    var units = ["KB", "MB", "GB", "TB"];
    var value = bytes;
    for (var i = 0; i < units.length; i++) {
      value /= 1000;
      if (value < 1000 || i === units.length - 1) {
        return (value < 100 ? value.toFixed(1) : value.toFixed(0)) + " " + units[i];
      }
    }
  }

  function formatDuration(seconds) {
    if (!isFinite(seconds)) return "";
    seconds = Math.max(1, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  // Messages are text, never HTML: a file name must not become markup.
  function showError(target, heading, detail) {
    var box = document.createElement("div");
    box.className = "card message error-box";
    box.setAttribute("role", "alert");
    var h = document.createElement("h2");
    h.textContent = heading;
    box.appendChild(h);
    if (detail) {
      var p = document.createElement("p");
      p.textContent = detail;
      box.appendChild(p);
    }
    target.replaceChildren(box);
  }

  function setUpUpload(form) {
    var input = form.querySelector("input[type=file]");
    var zone = form.querySelector(".drop-zone");
    var chosen = form.querySelector(".chosen");
    var submit = form.querySelector(".upload-button");
    var progress = document.getElementById("progress");
    var bar = progress.querySelector("progress");
    var text = progress.querySelector(".progress-text");
    var caption = progress.querySelector("label");
    var cancel = progress.querySelector(".cancel-upload");
    var result = document.getElementById("result");
    var maxBytes = parseInt(form.dataset.maxBytes, 10);
    var started = 0;
    var percent = 0;
    var resumable = null;  // the resumable upload in progress, if any

    function file() {
      return input.files && input.files[0];
    }

    function tooLarge(f) {
      return f.size > maxBytes;
    }

    function describeChoice() {
      var f = file();
      chosen.textContent = f ? f.name + " (" + formatBytes(f.size) + ")" : "";
      if (f && tooLarge(f)) {
        showError(result, "That file is too large",
          f.name + " is " + formatBytes(f.size) + "; files may be at most " +
          form.dataset.maxWords + ".");
      } else {
        result.replaceChildren();
      }
    }

    input.addEventListener("change", describeChoice);

    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", function () {
      zone.classList.remove("dragging");
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dragging");
      if (!event.dataTransfer || event.dataTransfer.files.length === 0) return;
      if (event.dataTransfer.files.length > 1) {
        showError(result, "One file at a time", "Drop a single file, or put them in a zip first.");
        return;
      }
      input.files = event.dataTransfer.files;
      describeChoice();
    });

    form.addEventListener("htmx:beforeRequest", function (event) {
      if (event.detail.elt !== form) return;
      var f = file();
      if (f && tooLarge(f)) {
        event.preventDefault();
        describeChoice();
        return;
      }
      started = performance.now();
      percent = 0;
      bar.value = 0;
      text.textContent = "0%";
      caption.textContent = "Uploading";
      progress.hidden = false;
      cancel.hidden = false;
      submit.disabled = true;
      result.replaceChildren();
      if (f && window.DropResumable && window.DropResumable.usable(form)) {
        event.preventDefault();
        resumable = window.DropResumable.start(form, f, resumableView());
      }
    });

    // What a resumable upload (resumable.js) shows: the same bar, with the time left.
    function resumableView() {
      function finish() {
        resumable = null;
        submit.disabled = false;
        cancel.hidden = true;
      }
      return {
        progress: function (sent, total, bytesPerSecond) {
          var now = total ? Math.floor((sent / total) * 100) : 0;
          bar.value = now;
          caption.textContent = "Uploading";
          var words = [now + "%", formatBytes(sent) + " of " + formatBytes(total)];
          if (bytesPerSecond > 0) {
            words.push(formatBytes(Math.round(bytesPerSecond)) + "/s");
            words.push(formatDuration((total - sent) / bytesPerSecond) + " left");
          }
          text.textContent = words.join(" · ");
        },
        // A pause or a resume: the speed and time left measured before it no longer hold.
        status: function (words) {
          caption.textContent = words;
          text.textContent = bar.value + "%";
        },
        done: function (resultUrl) {
          finish();
          bar.value = 100;
          caption.textContent = "Uploaded";
          text.textContent = "100% · done";
          htmx.ajax("GET", resultUrl, { target: result, swap: "innerHTML show:top" });
        },
        failed: function (heading, detail) {
          finish();
          progress.hidden = true;
          showError(result, heading, detail);
        },
        cancelled: function () {
          finish();
          progress.hidden = true;
          showError(result, "Upload cancelled", "Nothing was stored. Press Upload to try again.");
        },
      };
    }

    // htmx reports the upload's progress and then the answer's download under the same
    // name; the upload finishes first, so the bar only ever moves forward.
    form.addEventListener("htmx:xhr:progress", function (event) {
      if (!event.detail.lengthComputable || !event.detail.total) return;
      var now = Math.floor((event.detail.loaded / event.detail.total) * 100);
      if (now <= percent) return;
      percent = now;
      bar.value = percent;
      var seconds = (performance.now() - started) / 1000;
      var speed = seconds > 0 ? formatBytes(Math.round(event.detail.loaded / seconds)) + "/s" : "";
      text.textContent = percent + "%" + (speed ? " · " + speed : "");
    });

    form.addEventListener("htmx:afterRequest", function (event) {
      if (event.detail.elt !== form) return;
      submit.disabled = false;
      cancel.hidden = true;
      // A refusal, a failure or a cancel says so in #result; a full bar beside it would mislead.
      progress.hidden = !event.detail.successful;
      if (event.detail.successful) {
        bar.value = 100;
        caption.textContent = "Uploaded";
        text.textContent = "100% · done";
      }
    });

    form.addEventListener("htmx:sendError", function () {
      showError(result, "The upload did not get through",
        "The server could not be reached or the connection broke. Check your connection and try again.");
    });
    form.addEventListener("htmx:timeout", function () {
      showError(result, "The upload timed out", "Try again, or try a smaller file.");
    });
    form.addEventListener("htmx:sendAbort", function () {
      showError(result, "Upload cancelled", "Nothing was stored. Press Upload to try again.");
    });

    cancel.addEventListener("click", function () {
      if (resumable) resumable.cancel();
      else htmx.trigger(form, "htmx:abort");
    });
  }

  function setUpCopy() {
    document.body.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-copy]");
      if (!button) return;
      var field = document.getElementById(button.dataset.copy);
      field.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          document.execCommand("copy");
          done();
        });
      } else {
        document.execCommand("copy");
        done();
      }
    });
    // Copy buttons arrive in htmx fragments; they need JavaScript, so they start hidden.
    var reveal = function (root) {
      root.querySelectorAll("button[data-copy]").forEach(function (b) { b.hidden = false; });
    };
    reveal(document);
    document.body.addEventListener("htmx:afterSwap", function (event) { reveal(event.detail.target); });
  }

  // The Download button is a plain form POST whose answer is an attachment, so the page
  // stays as it was. Once the server has counted the download, show what is left, or that
  // the file is now gone (htmx swaps the 410 fragment in place of the card). Delegated:
  // the refreshed card brings a new form.
  function setUpDownloads() {
    document.body.addEventListener("submit", function (event) {
      var form = event.target.closest("form.download");
      if (!form) return;
      window.setTimeout(function () {
        var card = document.getElementById("share");
        if (card) htmx.ajax("GET", form.getAttribute("action"), { target: card, swap: "outerHTML" });
      }, 1500);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload");
    if (form) setUpUpload(form);
    setUpDownloads();
    setUpCopy();
  });
})();
