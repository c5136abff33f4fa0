import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';

// Ed25519 only. The key type is checked when a key is loaded, so a verifier
// can never be handed an RSA or EC key and run another algorithm:
// sign(null, …) and verify(null, …) pick the algorithm from the key.

/** The master's private key: signs worker credentials, master assertions and upload grants. */
export class SigningKey {
  readonly #privateKey: KeyObject;
  readonly verifyingKey: VerifyingKey;

  private constructor(privateKey: KeyObject) {
    this.#privateKey = privateKey;
    this.verifyingKey = new VerifyingKey(createPublicKey(privateKey));
  }

  static generate(): SigningKey {
    return new SigningKey(generateKeyPairSync('ed25519').privateKey);
  }

  /** Loads a PKCS#8 PEM private key; throws if it is not Ed25519. */
  static fromPem(privatePem: string | Buffer): SigningKey {
    const key = createPrivateKey({ key: privatePem, format: 'pem' });
    expectEd25519(key, 'private');
    return new SigningKey(key);
  }

  /** PKCS#8 PEM, for the key file; nothing else should need it. */
  privateKeyPem(): string {
    return this.#privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  publicKeyPem(): string {
    return this.verifyingKey.pem();
  }

  sign(data: Uint8Array): Buffer {
    return sign(null, data, this.#privateKey);
  }

  /** A key that ends up in a log line says only what it is. */
  toJSON(): string {
    return 'SigningKey(ed25519)';
  }
}

/** The master's public key, which workers and storage check its signatures with. */
export class VerifyingKey {
  readonly #publicKey: KeyObject;

  /** Use fromPem, or a SigningKey's verifyingKey. */
  constructor(publicKey: KeyObject) {
    expectEd25519(publicKey, 'public');
    this.#publicKey = publicKey;
  }

  /** Loads an SPKI PEM public key; throws if it is not Ed25519, or is a private key. */
  static fromPem(publicPem: string | Buffer): VerifyingKey {
    // createPublicKey would derive the public half, hiding that the private
    // key has been copied to a machine that should only verify.
    if (publicPem.toString().includes('PRIVATE KEY')) throw new Error('expected a public key, got a private key');
    return new VerifyingKey(createPublicKey({ key: publicPem, format: 'pem' }));
  }

  pem(): string {
    return this.#publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  verify(data: Uint8Array, signature: Uint8Array): boolean {
    return verify(null, data, this.#publicKey, signature);
  }
}

function expectEd25519(key: KeyObject, type: 'private' | 'public'): void {
  if (key.type !== type || key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`expected an Ed25519 ${type} key, got ${key.asymmetricKeyType ?? 'a'} ${key.type} key`);
  }
}
