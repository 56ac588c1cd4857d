"""RQ jobs and the IMAP poller process: thin shells around outreach use cases."""
