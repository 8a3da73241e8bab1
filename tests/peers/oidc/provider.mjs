// An OpenID provider for the single sign-on tests (tests/suite/sso.rs): panva's
// oidc-provider, a certified implementation, on 127.0.0.1 with a random port.
//
//   node provider.mjs <redirect_uri>
//
// Prints one line of JSON, {"issuer": "..."}, once it listens. Clients, all with the secret
// "secret" and the one redirect URI:
//   baton           an ordinary client
//   baton-other     another ordinary client (its ID tokens are for it, not for `baton`)
//   baton-expired   its ID tokens come back already expired
//   baton-wrong-aud its ID tokens name another audience
// The last two are the provider's own tokens re-signed with the provider's own key after one
// claim is changed, so that the server's check of that claim alone is what refuses them.
//
// There is no login form: the interaction signs in the account the `as` query parameter of
// the interaction URL names, or else the authorization request's `login_hint`, and grants
// the requested scopes. Accounts are email addresses; every one exists, with a verified email.
import http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const redirectUri = process.argv[2];
if (!redirectUri) {
  console.error('usage: node provider.mjs <redirect_uri>');
  process.exit(2);
}

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const client = (client_id) => ({
  client_id,
  client_secret: 'secret',
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code'],
  response_types: ['code'],
});

const provider = new Provider(issuer, {
  clients: ['baton', 'baton-other', 'baton-expired', 'baton-wrong-aud'].map(client),
  jwks: { keys: [jwk] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  // Everything the server needs is in the ID token.
  conformIdTokenClaims: false,
  cookies: { keys: ['test-only-cookie-key'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: true, name: id.split('@')[0] };
      },
    };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

// The interaction: sign in and consent, no questions asked.
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const account = ctx.query.as || details.params.login_hint;
  let result;
  if (details.prompt.name === 'login') {
    result = { login: { accountId: account } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    result = { consent: { grantId: await grant.save() } };
  }
  return provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
});

// The token endpoint's answer, re-signed for the clients that test one claim.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const claims = jose.decodeJwt(ctx.body.id_token);
  const now = Math.floor(Date.now() / 1000);
  if (claims.aud === 'baton-expired') {
    claims.iat = now - 7200;
    claims.exp = now - 3600;
  } else if (claims.aud === 'baton-wrong-aud') {
    claims.aud = 'someone-else';
  } else {
    return;
  }
  ctx.body = {
    ...ctx.body,
    id_token: await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid }).sign(privateKey),
  };
});

server.on('request', provider.callback());
console.log(JSON.stringify({ issuer }));
