"""What keeps drop from being abused: limits, blocks, uploaders and their tokens,
client addresses, abuse reports, malware scanning, and the audit trail of it all."""
