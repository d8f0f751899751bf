// The peer of bench/oidc_http.py: the certified Node.js provider `oidc-provider` issuing
// RS256 JWT access tokens (RFC 9068) for client_credentials, with a resource indicator
// (RFC 8707), in WORKERS processes under node's cluster module.
//
// Environment: PORT (default 8100), WORKERS (default 2), CLIENT_ID, CLIENT_SECRET,
// RESOURCE (the audience of the tokens). The signing key is generated at start by the
// primary and handed to every worker, so all workers sign with the same key.
import cluster from 'node:cluster';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import process from 'node:process';

const port = Number(process.env.PORT || 8100);
const workers = Number(process.env.WORKERS || 2);
const issuer = `http://127.0.0.1:${port}`;

if (cluster.isPrimary) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
  const env = { BENCH_JWKS: JSON.stringify({ keys: [jwk] }) };
  for (let i = 0; i < workers; i += 1) cluster.fork(env);
  let ready = 0;
  cluster.on('message', (_worker, message) => {
    if (message === 'listening' && (ready += 1) === workers) {
      console.log(`oidc-provider listening on ${issuer} with ${workers} worker(s)`);
    }
  });
  cluster.on('exit', (worker, code) => {
    console.error(`worker ${worker.process.pid} exited (${code})`);
    process.exitCode = 1;
  });
  const stop = () => {
    for (const worker of Object.values(cluster.workers)) worker.kill();
    process.exit();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const { default: Provider, errors } = await import('oidc-provider');
  const resource = process.env.RESOURCE || 'https://org.bench.test';
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: process.env.CLIENT_ID || 'bench-system',
        client_secret: process.env.CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: JSON.parse(process.env.BENCH_JWKS),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            scope: 'api',
            audience: indicator,
            accessTokenTTL: 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  });
  provider.on('server_error', (_ctx, error) => console.error(error));
  provider.listen(port, '127.0.0.1', () => process.send('listening'));
}
