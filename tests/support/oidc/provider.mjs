// A real OpenID provider for tests (oidc-provider, certified): `node provider.mjs CONFIG.json`.
// CONFIG: {"port": N, "clients": [...oidc-provider client metadata], "accounts": {"<login>": {claims}}}.
// Users sign in on the provider's own development login form (any password); their claims come from `accounts`.
// Prints "ready <issuer>" on stdout once it listens.
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const issuer = `http://127.0.0.1:${config.port}`;

const provider = new Provider(issuer, {
  clients: config.clients,
  findAccount: async (_ctx, id) => {
    const claims = config.accounts[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username"],
    email: ["email"],
    groups: ["groups"],
    tenant: ["cep_tenant"],
  },
  scopes: ["openid", "profile", "email", "groups", "tenant"],
  cookies: { keys: ["test-only-cookie-key"] },
  features: { devInteractions: { enabled: true } },
});
provider.listen(config.port, "127.0.0.1", () => {
  console.log(`ready ${issuer}`);
});
