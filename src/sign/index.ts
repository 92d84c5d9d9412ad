/** Signing and verification: ed25519 (ostree signapi, tweetnacl), GPG (OpenPGP.js), detached metadata. */
export { encodeDetached, decodeDetached, readSignatures, appendSignatures } from './detached.js';
export {
  Ed25519Signer,
  Ed25519Verifier,
  generateKeyPair,
  publicKeyOf,
  formatPublicKey,
  formatSecretKey,
  loadPublicKeys,
  loadSecretKey,
  type VerifyResult,
} from './ed25519.js';
export { GpgVerifier, signatureKeyIds, verifyGpg } from './gpg.js';
export { readSecretKeyFile, readPublicKeyFile, readGpgKeyFile, publicKeysFromText } from './key-files.js';
