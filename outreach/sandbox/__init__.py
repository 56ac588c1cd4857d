"""The sandbox: try the whole loop in minutes, without a real mailbox.

`outreach sandbox` (and `outreach up`, unless OUTREACH_SANDBOX=off) runs two
small mail servers on 127.0.0.1, from pip-installed packages:

- SMTP (aiosmtpd) on OUTREACH_SANDBOX_SMTP_PORT (2525). It accepts what the
  worker sends and never relays anything: no real email leaves the machine.
- IMAP (pymap, in-memory `dict` backend) on OUTREACH_SANDBOX_IMAP_PORT (1143),
  with an INBOX and a Sent folder per sandbox mailbox. Mail is lost when the
  sandbox stops; the poller then starts that mailbox afresh.

Both log in sandbox mailboxes only (addresses at `outreach-sandbox.invalid`,
RFC 2606 reserved, so never deliverable), with the password Outreach generated
and stored encrypted like any other.

Simulated contacts live at `people.outreach-sandbox.invalid`; the first word of
the address says how they answer, so a demo is predictable:

- `agrees.*`: a warm reply in the same thread, sometimes proposing a time;
- `declines.*`: a polite no;
- `away.*`: an out-of-office (RFC 3834 `Auto-Submitted: auto-replied`) giving a
  return date a few days ahead; the follow-up, later, gets a warm reply;
- `bounces.*`: a delivery status notification (RFC 3464) from MAILER-DAEMON
  quoting our Message-ID: the address does not exist;
- `silent.*`: no answer at all.

Answers arrive after OUTREACH_SANDBOX_REPLY_DELAY seconds ("5-45": a random
delay in that range) and are put into the sandbox INBOX with IMAP APPEND, so the
real poller finds them like any other mail.

Time is compressed, for sandbox contacts only, explicitly: the cycle waits
business days before a follow-up and before "no reply". In the sandbox a
business day lasts OUTREACH_SANDBOX_DAY_SECONDS (60) seconds: every few seconds
the sandbox process sets `next_step_at` to now for a sandbox outreach whose
simulated wait has passed (outreach.sandbox.timewarp), and records that on the
contact's timeline. The real scheduler then drafts the follow-up, and later
marks "no reply" and drafts the next name. Nothing else about the cycle changes.

Which addresses belong to the sandbox, and how a pretend contact answers, are
pure rules that every layer may use: outreach.rules.sandbox_addresses. The
servers (outreach.sandbox.servers) import aiosmtpd and pymap and are only loaded
by the sandbox process.
"""
