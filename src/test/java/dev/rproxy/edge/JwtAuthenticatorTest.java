package dev.rproxy.edge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.OctetKeyPair;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import com.sun.net.httpserver.HttpServer;
import dev.rproxy.config.ConfigException;
import dev.rproxy.config.JwtConfig;
import dev.rproxy.edge.JwtAuthenticator.Failure;
import dev.rproxy.edge.JwtAuthenticator.Result;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JwtAuthenticatorTest {

    private static final String ISSUER = "https://issuer.test";
    private static final long RATE_LIMIT_MS = 60_000;

    private static RSAKey rsa;
    private static ECKey ec;

    @TempDir
    Path dir;

    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    private final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeAll
    static void keys() throws JOSEException {
        rsa = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
        ec = new ECKeyGenerator(Curve.P_256).keyID("ec-1").generate();
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
        scheduler.shutdownNow();
        assertThat(scheduler.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    // ---- valid tokens ---------------------------------------------------------------------

    @Test
    void acceptsRs256AndEs256TokensSignedWithKeysOfTheSet() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(), rsa, ec);

        Result byRsa = auth.check("Bearer " + token(rsa, JWSAlgorithm.RS256, c -> { }));
        Result byEc = auth.check("bearer  " + token(ec, JWSAlgorithm.ES256, c -> { }));

        assertThat(byRsa.ok()).as(byRsa.toString()).isTrue();
        assertThat(byRsa.failure()).isNull();
        assertThat(byRsa.description()).isNull();
        assertThat(byRsa.claim("sub")).isEqualTo("alice");
        assertThat(byEc.ok()).as(byEc.toString()).isTrue();
    }

    @Test
    void aTokenWithoutKidIsTriedWithTheKeysOfItsAlgorithmsType() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(), rsa, ec);

        assertThat(auth.check("Bearer " + token(rsa, JWSAlgorithm.RS256, null, c -> { })).ok()).isTrue();
        assertThat(auth.check("Bearer " + token(ec, JWSAlgorithm.ES256, null, c -> { })).ok()).isTrue();
    }

    @Test
    void acceptsEdDsaWithAnEd25519Key() throws Exception {
        KeyPair pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
        byte[] spki = pair.getPublic().getEncoded();
        OctetKeyPair okp = new OctetKeyPair.Builder(Curve.Ed25519,
                Base64URL.encode(Arrays.copyOfRange(spki, spki.length - 32, spki.length))).keyID("ed-1").build();
        JwtAuthenticator auth = fileAuthenticator(config(c -> c.algorithms = List.of("EdDSA")), okp);
        String signingInput = new JWSHeader.Builder(JWSAlgorithm.EdDSA).keyID("ed-1").build().toBase64URL() + "."
                + Base64URL.encode(claims(c -> { }).toString());
        Signature signer = Signature.getInstance("Ed25519");
        signer.initSign(pair.getPrivate());
        signer.update(signingInput.getBytes(StandardCharsets.US_ASCII));
        byte[] signature = signer.sign();

        assertThat(auth.check("Bearer " + signingInput + "." + Base64URL.encode(signature)).ok()).isTrue();
        signature[0] ^= 1;
        assertThat(auth.check("Bearer " + signingInput + "." + Base64URL.encode(signature)))
                .satisfies(r -> assertInvalid(r, "invalid signature"));
    }

    // ---- the header -----------------------------------------------------------------------

    @Test
    void noBearerTokenIsMissing() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(), rsa);

        for (String value : Arrays.asList(null, "", "   ", "Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer   ", "Bearerx.y.z")) {
            Result result = auth.check(value);
            assertThat(result.ok()).as(value).isFalse();
            assertThat(result.failure()).as(value).isEqualTo(Failure.MISSING);
            assertSafe(result.description());
        }
    }

    @Test
    void malformedTokensAreInvalid() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(), rsa);
        String good = token(rsa, JWSAlgorithm.RS256, c -> { });

        for (String token : List.of("abc", "a.b.c", "a b c", good.substring(0, good.lastIndexOf('.')),
                good + "x.y", "x".repeat(JwtAuthenticator.MAX_TOKEN_CHARS + 1))) {
            assertThat(auth.check("Bearer " + token).failure()).as(token).isEqualTo(Failure.INVALID);
        }
    }

    @Test
    void algNoneIsRefused() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(), rsa);
        String unsigned = "eyJhbGciOiJub25lIn0." + Base64URL.encode(claims(c -> { }).toString()) + ".";

        assertInvalid(auth.check("Bearer " + unsigned), "unsigned token");
    }

    @Test
    void hs256MacedWithThePublicKeyIsRefused() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(), rsa);
        SignedJWT confused = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.HS256).keyID("rsa-1").build(),
                claims(c -> { }));
        confused.sign(new MACSigner(rsa.toRSAPublicKey().getEncoded()));

        assertInvalid(auth.check("Bearer " + confused.serialize()), "algorithm not allowed");
    }

    @Test
    void anAlgorithmOutsideTheConfiguredOnesIsRefused() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(c -> c.algorithms = List.of("RS256")), rsa, ec);

        assertInvalid(auth.check("Bearer " + token(ec, JWSAlgorithm.ES256, c -> { })), "algorithm not allowed");
        assertInvalid(auth.check("Bearer " + token(rsa, JWSAlgorithm.PS256, c -> { })), "algorithm not allowed");
        assertThat(auth.check("Bearer " + token(rsa, JWSAlgorithm.RS256, c -> { })).ok()).isTrue();
    }

    @Test
    void aKeyOfAnotherTypeThanTheAlgorithmIsRefused() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(), rsa, ec);
        // Signed by the EC key, but naming the RSA key.
        SignedJWT mismatched = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.ES256).keyID("rsa-1").build(),
                claims(c -> { }));
        mismatched.sign(new ECDSASigner(ec));

        assertInvalid(auth.check("Bearer " + mismatched.serialize()), "key does not fit the algorithm");
    }

    @Test
    void aSignatureByAnotherKeyIsInvalid() throws Exception {
        RSAKey impostor = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
        JwtAuthenticator auth = fileAuthenticator(config(), rsa);

        assertInvalid(auth.check("Bearer " + token(impostor, JWSAlgorithm.RS256, c -> { })), "invalid signature");
    }

    // ---- claims ---------------------------------------------------------------------------

    @Test
    void lifetimeIsCheckedWithTheClockSkew() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(), rsa); // 30 s of skew
        long now = System.currentTimeMillis();

        assertInvalid(check(auth, c -> c.expirationTime(new Date(now - 120_000))), "token expired");
        assertInvalid(check(auth, c -> c.expirationTime(null)), "token without exp");
        assertInvalid(check(auth, c -> c.notBeforeTime(new Date(now + 120_000))), "token not yet valid");
        assertInvalid(check(auth, c -> c.issueTime(new Date(now + 120_000))), "token issued in the future");
        assertThat(check(auth, c -> c.expirationTime(new Date(now - 10_000))).ok()).isTrue();
        assertThat(check(auth, c -> c.notBeforeTime(new Date(now + 10_000)).issueTime(new Date(now + 10_000))).ok())
                .isTrue();
    }

    @Test
    void issuerAndAudienceMustMatch() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(c -> c.audiences = List.of("api", "admin")), rsa);

        assertInvalid(check(auth, c -> c.issuer("https://other.test")), "wrong issuer");
        assertInvalid(check(auth, c -> c.issuer(null)), "wrong issuer");
        assertInvalid(check(auth, c -> c.audience("web")), "wrong audience");
        assertInvalid(check(auth, c -> c.audience((String) null)), "wrong audience");
        assertThat(check(auth, c -> c.audience(List.of("web", "admin"))).ok()).isTrue();
    }

    @Test
    void audienceIsNotCheckedWhenNoneIsConfigured() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(c -> c.audiences = null), rsa);

        assertThat(check(auth, c -> c.audience("anything")).ok()).isTrue();
        assertThat(check(auth, c -> c.audience((String) null)).ok()).isTrue();
    }

    @Test
    void claimsAsTextAndForwardedHeaders() throws Exception {
        Map<String, String> forward = new LinkedHashMap<>();
        forward.put("sub", "X-User");
        forward.put("admin", "X-Admin");
        forward.put("level", "X-Level");
        forward.put("evil", "X-Evil");
        forward.put("absent", "X-Absent");
        forward.put("roles", "X-Roles");
        JwtAuthenticator auth = fileAuthenticator(config(c -> c.forwardClaims = forward), rsa);
        long exp = System.currentTimeMillis() / 1000 + 300;

        Result result = check(auth, c -> c.expirationTime(new Date(exp * 1000)).claim("admin", true)
                .claim("level", 42).claim("ratio", 0.5).claim("evil", "x\r\nSet-Cookie: a=b")
                .claim("roles", List.of("a", "b")).claim("name", "Zoë"));

        assertThat(result.ok()).isTrue();
        assertThat(result.claim("sub")).isEqualTo("alice");
        assertThat(result.claim("admin")).isEqualTo("true");
        assertThat(result.claim("level")).isEqualTo("42");
        assertThat(result.claim("ratio")).isEqualTo("0.5");
        assertThat(result.claim("name")).isEqualTo("Zoë");
        assertThat(result.claim("exp")).isEqualTo(Long.toString(exp));
        assertThat(result.claim("aud")).isEqualTo("api");
        assertThat(result.claim("roles")).isNull();
        assertThat(result.claim("absent")).isNull();
        // Control characters never reach a header; lists and absent claims have no value to send.
        assertThat(result.forwardedHeaders()).containsExactly(Map.entry("X-User", "alice"),
                Map.entry("X-Admin", "true"), Map.entry("X-Level", "42"));
        assertThat(auth.check(null).forwardedHeaders()).isEmpty();
        assertThat(auth.check(null).claim("sub")).isNull();
    }

    // ---- the cache ------------------------------------------------------------------------

    @Test
    void aRepeatedTokenIsRememberedUntilItExpires() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(c -> c.clockSkewSeconds = 0), rsa);
        long exp = System.currentTimeMillis() / 1000 + 2;
        String header = "Bearer " + token(rsa, JWSAlgorithm.RS256, c -> c.expirationTime(new Date(exp * 1000)));

        Result first = auth.check(header);
        assertThat(first.ok()).as(first.toString()).isTrue();
        assertThat(auth.check(header)).isSameAs(first);

        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50))
                .until(() -> auth.check(header).failure() == Failure.INVALID);
        assertThat(System.currentTimeMillis()).isGreaterThanOrEqualTo(exp * 1000);
        assertInvalid(auth.check(header), "token expired");
    }

    // ---- the key set ----------------------------------------------------------------------

    @Test
    void anUnknownKidLoadsTheSetAgainAndTheTokenPassesOnceItIsThere() throws Exception {
        JwksServer server = new JwksServer(rsa);
        JwtAuthenticator auth = urlAuthenticator(config(c -> c.url(server.url())));
        auth.refreshing().get(10, TimeUnit.SECONDS);
        assertThat(check(auth, c -> { }).ok()).isTrue();
        assertThat(server.requests()).isEqualTo(1);

        RSAKey rotated = new RSAKeyGenerator(2048).keyID("rsa-2").generate();
        server.serve(rsa, rotated);
        String header = "Bearer " + token(rotated, JWSAlgorithm.RS256, c -> { });
        Result before = auth.check(header);
        assertThat(before.failure()).isEqualTo(Failure.UNKNOWN_KEY);
        assertSafe(before.description());
        auth.refreshing().get(10, TimeUnit.SECONDS);

        assertThat(auth.check(header).ok()).isTrue();
        assertThat(server.requests()).isEqualTo(2);

        // A second unknown kid within the interval: no fetch.
        String other = "Bearer " + token(new RSAKeyGenerator(2048).keyID("rsa-3").generate(), JWSAlgorithm.RS256,
                c -> { });
        assertThat(auth.check(other).failure()).isEqualTo(Failure.UNKNOWN_KEY);
        auth.refreshing().get(10, TimeUnit.SECONDS);
        assertThat(auth.check(other).failure()).isEqualTo(Failure.UNKNOWN_KEY);
        assertThat(server.requests()).isEqualTo(2);
    }

    @Test
    void aFailedFirstFetchDoesNotThrowAndTokensWaitForKeys() throws Exception {
        JwksServer server = new JwksServer(rsa);
        server.status = 500;
        JwtAuthenticator auth = urlAuthenticator(config(c -> c.url(server.url())));
        auth.refreshing().get(10, TimeUnit.SECONDS);

        assertThat(check(auth, c -> { }).failure()).isEqualTo(Failure.UNKNOWN_KEY);
        auth.refreshing().get(10, TimeUnit.SECONDS);
        assertThat(check(auth, c -> { }).failure()).isEqualTo(Failure.UNKNOWN_KEY);
        auth.refreshing().get(10, TimeUnit.SECONDS);
        assertThat(server.requests()).isEqualTo(2); // the first fetch and one for the unknown kid
    }

    @Test
    void aFailedRefreshKeepsTheKeysThereWere() throws Exception {
        JwksServer server = new JwksServer(rsa);
        JwtAuthenticator auth = urlAuthenticator(config(c -> c.url(server.url())));
        auth.refreshing().get(10, TimeUnit.SECONDS);
        server.status = 503;

        Result unknown = auth.check("Bearer " + token(ec, JWSAlgorithm.ES256, c -> { }));
        assertThat(unknown.failure()).isEqualTo(Failure.UNKNOWN_KEY);
        auth.refreshing().get(10, TimeUnit.SECONDS);

        assertThat(server.requests()).isEqualTo(2);
        assertThat(check(auth, c -> { }).ok()).isTrue();
    }

    @Test
    void aJwksFileIsReadAtOnceAndAgainEveryRefresh() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(c -> c.jwksRefreshMs = 1000), rsa);
        String byEc = "Bearer " + token(ec, JWSAlgorithm.ES256, c -> { });
        assertThat(check(auth, c -> { }).ok()).isTrue();
        assertThat(auth.check(byEc).failure()).isEqualTo(Failure.UNKNOWN_KEY);

        Files.writeString(dir.resolve("jwks.json"), jwks(ec));

        await().atMost(Duration.ofSeconds(10)).until(() -> auth.check(byEc).ok());
        assertThat(check(auth, c -> { }).failure()).isEqualTo(Failure.UNKNOWN_KEY);
    }

    @Test
    void aMissingJwksFileDoesNotThrow() {
        JwtAuthenticator auth = new JwtAuthenticator(config(c -> c.jwksFile = dir.resolve("absent.json")), scheduler);
        closing.add(auth);

        assertThat(auth.check("Bearer " + token(rsa, JWSAlgorithm.RS256, c -> { })).failure())
                .isEqualTo(Failure.UNKNOWN_KEY);
    }

    @Test
    void descriptionsFitAWwwAuthenticateHeader() throws Exception {
        JwtAuthenticator auth = fileAuthenticator(config(), rsa);
        long now = System.currentTimeMillis();
        List<Result> failures = List.of(auth.check(null), auth.check("Basic x"), auth.check("Bearer \"x\\y\""),
                check(auth, c -> c.expirationTime(new Date(now - 60_000))), check(auth, c -> c.issuer("\"evil\"")),
                auth.check("Bearer " + token(ec, JWSAlgorithm.ES256, c -> { })));

        assertThat(failures).allSatisfy(r -> assertSafe(r.description()));
    }

    // ---- configuration --------------------------------------------------------------------

    @Test
    void configDefaultsAndChecks() {
        JwtConfig defaults = new JwtConfig(ISSUER, Path.of("jwks.json"), null);
        assertThat(defaults.algorithms()).containsExactly("RS256", "ES256");
        assertThat(defaults.clockSkewSeconds()).isEqualTo(30);
        assertThat(defaults.jwksRefreshMs()).isEqualTo(300_000);
        assertThat(defaults.audiences()).isEmpty();
        assertThat(defaults.forwardClaims()).isEmpty();

        assertConfigError(c -> c.issuer = null, "issuer: required");
        assertConfigError(c -> c.jwksUrl = URI.create("https://issuer.test/jwks"),
                "jwksFile: set together with jwksUrl (expected: exactly one of them)");
        assertConfigError(c -> c.jwksFile = null, "jwksUrl: required (or jwksFile; exactly one of them)");
        assertConfigError(c -> c.url(URI.create("ftp://issuer.test/jwks")),
                "jwksUrl: \"ftp://issuer.test/jwks\" (expected: an http:// or https:// URL with a host)");
        assertConfigError(c -> c.algorithms = List.of("RS256", "HS256"), "algorithms[1]: \"HS256\" (symmetric");
        assertConfigError(c -> c.algorithms = List.of("none"), "algorithms[0]: \"none\" (unsigned tokens");
        assertConfigError(c -> c.algorithms = List.of(), "algorithms: empty");
        assertConfigError(c -> c.clockSkewSeconds = 601, "clockSkewSeconds: 601 (expected: 0..600)");
        assertConfigError(c -> c.jwksRefreshMs = 999, "jwksRefreshMs: 999 (expected: >= 1000)");
        assertConfigError(c -> c.forwardClaims = Map.of("sub", "X User"), "forwardClaims.sub: \"X User\" (expected:");
        assertConfigError(c -> c.forwardClaims = Map.of("sub", "Content-Length"), "forwardClaims.sub: \"Content-Length\"");
    }

    // ---- helpers --------------------------------------------------------------------------

    /** The components of a {@link JwtConfig}, with the tests' defaults. */
    private final class Settings {
        String issuer = ISSUER;
        List<String> audiences = List.of("api");
        Path jwksFile = dir.resolve("jwks.json");
        URI jwksUrl;
        List<String> algorithms = List.of("RS256", "PS256", "ES256");
        int clockSkewSeconds = 30;
        Map<String, String> forwardClaims;
        long jwksRefreshMs = 300_000;

        /** The key set from {@code url} instead of the file. */
        void url(URI url) {
            jwksUrl = url;
            jwksFile = null;
        }

        JwtConfig build() {
            return new JwtConfig(issuer, audiences, jwksFile, jwksUrl, algorithms, clockSkewSeconds, forwardClaims,
                    jwksRefreshMs);
        }
    }

    private JwtConfig config() {
        return config(c -> { });
    }

    private JwtConfig config(Consumer<Settings> change) {
        Settings settings = new Settings();
        change.accept(settings);
        return settings.build();
    }

    private void assertConfigError(Consumer<Settings> change, String message) {
        Settings settings = new Settings();
        change.accept(settings);
        assertThatThrownBy(settings::build).isInstanceOf(ConfigException.class).hasMessageStartingWith(message);
    }

    private JwtAuthenticator fileAuthenticator(JwtConfig config, JWK... keys) throws IOException {
        Files.writeString(config.jwksFile(), jwks(keys));
        JwtAuthenticator auth = new JwtAuthenticator(config, scheduler, RATE_LIMIT_MS);
        closing.add(auth);
        return auth;
    }

    private JwtAuthenticator urlAuthenticator(JwtConfig config) {
        JwtAuthenticator auth = new JwtAuthenticator(config, scheduler, RATE_LIMIT_MS);
        closing.add(auth);
        return auth;
    }

    private static String jwks(JWK... keys) {
        return new JWKSet(Arrays.stream(keys).map(JWK::toPublicJWK).toList()).toString();
    }

    private static JWTClaimsSet claims(Consumer<JWTClaimsSet.Builder> change) {
        long now = System.currentTimeMillis();
        JWTClaimsSet.Builder builder = new JWTClaimsSet.Builder().issuer(ISSUER).audience("api").subject("alice")
                .issueTime(new Date(now)).expirationTime(new Date(now + 300_000));
        change.accept(builder);
        return builder.build();
    }

    private static String token(JWK key, JWSAlgorithm alg, Consumer<JWTClaimsSet.Builder> change) {
        return token(key, alg, key.getKeyID(), change);
    }

    private static String token(JWK key, JWSAlgorithm alg, String kid, Consumer<JWTClaimsSet.Builder> change) {
        try {
            JWSSigner signer = key instanceof RSAKey r ? new RSASSASigner(r) : new ECDSASigner((ECKey) key);
            SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(alg).keyID(kid).build(), claims(change));
            jwt.sign(signer);
            return jwt.serialize();
        } catch (JOSEException e) {
            throw new AssertionError(e);
        }
    }

    /** Checks an RS256 token signed with {@link #rsa} whose claims {@code change} made. */
    private static Result check(JwtAuthenticator auth, Consumer<JWTClaimsSet.Builder> change) {
        return auth.check("Bearer " + token(rsa, JWSAlgorithm.RS256, change));
    }

    private static void assertInvalid(Result result, String description) {
        assertThat(result.ok()).as(result.toString()).isFalse();
        assertThat(result.failure()).as(result.toString()).isEqualTo(Failure.INVALID);
        assertThat(result.description()).isEqualTo(description);
        assertSafe(result.description());
    }

    /** Fits {@code error_description="..."}: RFC 6750 §3 allows %x20-21 / %x23-5B / %x5D-7E. */
    private static void assertSafe(String description) {
        assertThat(description).isNotEmpty().matches("[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]+");
    }

    /** A JWK Set over real loopback HTTP, counting the requests it answers. */
    private final class JwksServer {
        private final HttpServer server;
        private final AtomicInteger requests = new AtomicInteger();
        private volatile String body;
        volatile int status = 200;

        JwksServer(JWK... keys) throws IOException {
            serve(keys);
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            server.createContext("/jwks", exchange -> {
                requests.incrementAndGet();
                byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
                exchange.getResponseHeaders().add("Content-Type", "application/jwk-set+json");
                exchange.sendResponseHeaders(status, bytes.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(bytes);
                }
            });
            server.start();
            closing.add(() -> server.stop(0));
        }

        void serve(JWK... keys) {
            body = jwks(keys);
        }

        URI url() {
            return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/jwks");
        }

        int requests() {
            return requests.get();
        }
    }
}
