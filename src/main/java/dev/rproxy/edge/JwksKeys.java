package dev.rproxy.edge;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.crypto.ECDSAVerifier;
import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.KeyOperation;
import com.nimbusds.jose.jwk.KeyUse;
import com.nimbusds.jose.jwk.OctetKeyPair;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.SignedJWT;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One JSON Web Key Set (RFC 7517 §5), immutable, as the public keys tokens may be signed with.
 * Keys that cannot verify a JWS this proxy accepts are left out when the set is parsed and named in
 * {@link #skipped()}: encryption keys, symmetric ({@code oct}) keys, RSA keys under 2048 bits (RFC
 * 7518 §3.3), curves other than P-256/384/521 and Ed25519, and keys pinned ({@code alg}) to an
 * algorithm of another family.
 *
 * <p>Safe to share between threads: the verifiers make a new {@link Signature} per call.
 */
final class JwksKeys {

    static final JwksKeys EMPTY = new JwksKeys(null, List.of(), List.of());

    private static final int MIN_RSA_BITS = 2048;
    /** DER of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4) up to the 32 key bytes. */
    private static final byte[] ED25519_SPKI_PREFIX = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03,
        0x21, 0x00};

    /** What trying a token's signature against the set found. */
    enum Outcome {
        VERIFIED,
        /** Keys fit the token's header and none verified its signature. */
        BAD_SIGNATURE,
        /** Its {@code kid} names keys of another type or algorithm only, or (no kid) no key fits. */
        NO_FITTING_KEY,
        /** No key has its {@code kid}. */
        UNKNOWN_KID
    }

    private final String json;
    private final List<Key> keys;
    private final Map<String, List<Key>> byKid;
    private final List<String> skipped;

    private JwksKeys(String json, List<Key> keys, List<String> skipped) {
        this.json = json;
        this.keys = keys;
        this.skipped = skipped;
        Map<String, List<Key>> kids = new HashMap<>();
        for (Key key : keys) {
            if (key.kid() != null) {
                kids.computeIfAbsent(key.kid(), k -> new ArrayList<>(1)).add(key);
            }
        }
        this.byKid = kids;
    }

    /** The keys of the set in {@code json}; {@link ParseException} when it is not a JWK Set. */
    static JwksKeys parse(String json) throws ParseException {
        List<Key> keys = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        for (JWK jwk : JWKSet.parse(json).getKeys()) {
            String name = jwk.getKeyID() == null ? "a key without kid" : "kid " + jwk.getKeyID();
            String problem = problem(jwk);
            Key key = problem == null ? key(jwk) : null;
            if (key != null) {
                keys.add(key);
            } else if (problem != null) {
                skipped.add(name + ": " + problem);
            } else {
                skipped.add(name + ": kty " + jwk.getKeyType() + (jwk.getAlgorithm() == null ? "" : ", alg "
                        + jwk.getAlgorithm()) + " verifies no JWS algorithm supported here");
            }
        }
        return new JwksKeys(json, List.copyOf(keys), List.copyOf(skipped));
    }

    /** The text this set was parsed from ({@code null}: none): a load that reads the same text keeps this set. */
    String json() {
        return json;
    }

    int size() {
        return keys.size();
    }

    /** Why keys of the document were left out, one line each. */
    List<String> skipped() {
        return skipped;
    }

    /**
     * Tries {@code jwt}'s signature with the keys its {@code kid} names (without a kid: every key)
     * whose type fits its algorithm, which the caller has checked is an allowed one.
     */
    Outcome verify(SignedJWT jwt) {
        JWSHeader header = jwt.getHeader();
        String kid = header.getKeyID();
        List<Key> candidates = kid == null ? keys : byKid.get(kid);
        if (candidates == null) {
            return Outcome.UNKNOWN_KID;
        }
        Family family = Family.of(header.getAlgorithm());
        boolean fitted = false;
        for (Key key : candidates) {
            if (key.family() == family && (key.pinned() == null || key.pinned().equals(header.getAlgorithm()))) {
                fitted = true;
                if (key.verifies(header, jwt.getSigningInput(), jwt.getSignature())) {
                    return Outcome.VERIFIED;
                }
            }
        }
        return fitted ? Outcome.BAD_SIGNATURE : Outcome.NO_FITTING_KEY;
    }

    /** The key types, with the curve where it decides the algorithm (RFC 7518 §3.4). */
    enum Family {
        RSA, P256, P384, P521, ED25519;

        /** {@code null} for an algorithm no key here verifies (HMAC, ES256K, anything else). */
        static Family of(JWSAlgorithm alg) {
            if (JWSAlgorithm.Family.RSA.contains(alg)) {
                return RSA;
            } else if (JWSAlgorithm.ES256.equals(alg)) {
                return P256;
            } else if (JWSAlgorithm.ES384.equals(alg)) {
                return P384;
            } else if (JWSAlgorithm.ES512.equals(alg)) {
                return P521;
            } else if (JWSAlgorithm.EdDSA.equals(alg)) {
                return ED25519;
            }
            return null;
        }
    }

    /** A key that verifies signatures of one {@link Family}, and only of {@code pinned} when set. */
    private record Key(String kid, Family family, JWSAlgorithm pinned, JWSVerifier nimbus, PublicKey ed25519) {

        boolean verifies(JWSHeader header, byte[] signingInput, Base64URL signature) {
            if (ed25519 != null) {
                return verifyEd25519(signingInput, signature.decode());
            }
            try {
                return nimbus.verify(header, signingInput, signature);
            } catch (JOSEException e) {
                return false; // a signature of the wrong length or encoding, or a critical header
            }
        }

        /**
         * With the JDK's Ed25519 (RFC 8032): nimbus's verifier needs Tink, which the proxy does
         * not ship.
         */
        private boolean verifyEd25519(byte[] signingInput, byte[] signature) {
            if (signature.length != 64) {
                return false;
            }
            try {
                Signature verifier = Signature.getInstance("Ed25519");
                verifier.initVerify(ed25519);
                verifier.update(signingInput);
                return verifier.verify(signature);
            } catch (GeneralSecurityException e) {
                return false;
            }
        }
    }

    /** Why {@code jwk} cannot verify signatures, or {@code null}. */
    private static String problem(JWK jwk) {
        if (KeyUse.ENCRYPTION.equals(jwk.getKeyUse())) {
            return "an encryption key (use \"enc\")";
        }
        if (jwk.getKeyOperations() != null && !jwk.getKeyOperations().contains(KeyOperation.VERIFY)) {
            return "key_ops without \"verify\"";
        }
        if (jwk instanceof RSAKey rsa && rsa.size() < MIN_RSA_BITS) {
            return rsa.size() + "-bit RSA (expected: >= " + MIN_RSA_BITS + ")";
        }
        return null;
    }

    /** The key as a verifier, or {@code null} when it is of no type or curve a JWS here uses. */
    private static Key key(JWK jwk) {
        JWSAlgorithm pinned = jwk.getAlgorithm() == null ? null : JWSAlgorithm.parse(jwk.getAlgorithm().getName());
        try {
            Key key = null;
            if (jwk instanceof RSAKey rsa) {
                key = new Key(jwk.getKeyID(), Family.RSA, pinned, new RSASSAVerifier(rsa.toRSAPublicKey()), null);
            } else if (jwk instanceof ECKey ec) {
                Family family = Curve.P_256.equals(ec.getCurve()) ? Family.P256
                        : Curve.P_384.equals(ec.getCurve()) ? Family.P384
                        : Curve.P_521.equals(ec.getCurve()) ? Family.P521 : null;
                key = family == null ? null
                        : new Key(jwk.getKeyID(), family, pinned, new ECDSAVerifier(ec.toECPublicKey()), null);
            } else if (jwk instanceof OctetKeyPair okp && Curve.Ed25519.equals(okp.getCurve())) {
                key = new Key(jwk.getKeyID(), Family.ED25519, pinned, null, ed25519(okp.getDecodedX()));
            }
            // A key pinned to an algorithm of another family (RSA-OAEP, HS256, ...) verifies nothing.
            return key != null && pinned != null && Family.of(pinned) != key.family() ? null : key;
        } catch (JOSEException | GeneralSecurityException e) {
            return null;
        }
    }

    private static PublicKey ed25519(byte[] x) throws GeneralSecurityException {
        if (x.length != 32) {
            throw new GeneralSecurityException("Ed25519 public key of " + x.length + " bytes");
        }
        byte[] spki = Arrays.copyOf(ED25519_SPKI_PREFIX, ED25519_SPKI_PREFIX.length + 32);
        System.arraycopy(x, 0, spki, ED25519_SPKI_PREFIX.length, 32);
        return KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(spki));
    }
}
