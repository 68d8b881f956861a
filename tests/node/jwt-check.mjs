// Proves JWT_PRIVATE_KEY / JWKS the way Convex Auth uses them: import the env-var form of the
// key with jose, sign RS256, verify against the JWKS; and compare the JWKS with node's own JWK
// export of the PEM. Inputs come by environment (never argv); prints one JSON object.
import { createPublicKey } from "node:crypto";
import { SignJWT, importPKCS8, jwtVerify, createLocalJWKSet } from "jose";

const envKey = process.env.JWT_PRIVATE_KEY;
const pem = process.env.PEM;
const jwks = JSON.parse(process.env.JWKS);
const issuer = process.env.ISSUER;

const privateKey = await importPKCS8(envKey, "RS256");
const token = await new SignJWT({ sub: "user|session" })
  .setProtectedHeader({ alg: "RS256" })
  .setIssuedAt()
  .setIssuer(issuer)
  .setAudience("convex")
  .setExpirationTime("1h")
  .sign(privateKey);
const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer, audience: "convex" });

let wrongIssuerRejected = false;
try {
  await jwtVerify(token, createLocalJWKSet(jwks), { issuer: issuer + "x", audience: "convex" });
} catch {
  wrongIssuerRejected = true;
}

const nodeJwk = createPublicKey(pem).export({ format: "jwk" });
console.log(
  JSON.stringify({
    verified_sub: payload.sub,
    wrong_issuer_rejected: wrongIssuerRejected,
    node_jwk: { kty: nodeJwk.kty, n: nodeJwk.n, e: nodeJwk.e },
    jwks_key: jwks.keys[0],
  }),
);
