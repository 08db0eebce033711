// A stock MCP host on the official TypeScript SDK (1.32.2): its
// PrivateKeyJwtProvider (client_credentials + private_key_jwt), streamable
// HTTP. The SDK does no DPoP, so the resource must be switched to bearer
// tokens on both sides (docs/oauth.md, "Bearer tokens").
//
//   node host.mjs AGENT.jwk AGENT_DID MCP_SERVER_URL ISSUER_URL
import fs from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

const [keyFile, clientId, server, issuer] = process.argv.slice(2);
const jwk = JSON.parse(fs.readFileSync(keyFile, 'utf8'));
delete jwk.kid; // jose's importJWK does not need it
const provider = new PrivateKeyJwtProvider({ clientId, privateKey: jwk, algorithm: 'EdDSA', expectedIssuer: issuer });
const client = new Client({ name: 'ts-host', version: '1.0.0' });
const transport = new StreamableHTTPClientTransport(new URL(server), { authProvider: provider });
try {
  await client.connect(transport);
  const res = await client.callTool({ name: 'list_events', arguments: {} });
  console.log('ts-host: token_type', provider.tokens()?.token_type, 'expires_in', provider.tokens()?.expires_in);
  console.log('ts-host: list_events →', res.content.map((c) => c.text).join('\n'));
  await client.close();
} catch (e) {
  console.log('ts-host: error:', e?.message ?? e);
  process.exitCode = 1;
}
