"""Sign in with Google or Microsoft (OAuth2), and the one place access tokens come from.

- `providers`: the providers this instance is configured for (outreach.config), with
  their endpoints, scopes and mail servers.
- `flow`: the sign-in itself, the authorization-code flow with PKCE (S256) and a
  random state: the provider's URL to send the browser to, the code that comes back
  traded for tokens, the signed-in address; and revoking a grant.
- `tokens`: the token store. A finished sign-in is stored on the user's mailbox,
  encrypted like a password; every process that logs in to such a mailbox asks
  `AccessTokens` for a current access token, renewed by one process at a time.
- `token_endpoint`: the HTTP exchange with a provider's token endpoint that both
  the flow and the store use.

Logging in to a mailbox's servers with those tokens is outreach.mailbox_login's.
Tokens are never logged, printed or put in an error message.
"""
