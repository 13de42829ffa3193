package dev.rproxy.edge;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import com.sun.net.httpserver.HttpServer;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.testbackend.TestBackend;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A route that requires a bearer token, through a real proxy: the abuse each check stops (no
 * token, an expired one, {@code alg: none}, a forged claim header) and a key rotated in the JWKS,
 * which a request with the new key waits for instead of failing.
 */
class RouteJwtTest {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ISSUER = "https://issuer.test";

    @TempDir
    Path dir;

    private TestBackend backend;
    private HttpServer jwks;
    private final AtomicReference<String> jwksBody = new AtomicReference<>();
    private final AtomicInteger jwksFetches = new AtomicInteger();

    @BeforeEach
    void start() throws Exception {
        backend = TestBackend.start("app", "127.0.0.1", 0);
        jwks = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 10);
        jwks.createContext("/jwks.json", ex -> {
            jwksFetches.incrementAndGet();
            byte[] body = jwksBody.get().getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        });
        jwks.start();
    }

    @AfterEach
    void stop() {
        jwks.stop(0);
        backend.close();
    }

    private ConfiguredProxy proxy(String jwksSource, String extra) throws Exception {
        return new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false}," + extra
                + "\"upstreams\": {\"app\": {\"backends\": [{\"id\": \"app\", \"url\": \"http://127.0.0.1:" + backend.port()
                + "\"}]}},"
                + "\"routes\": [{\"match\": {\"pathPrefix\": \"/api\"}, \"upstream\": \"app\","
                + "  \"auth\": {\"jwt\": {\"issuer\": \"" + ISSUER + "\", \"audiences\": [\"api\"], " + jwksSource + ","
                + "    \"forwardClaims\": {\"sub\": \"X-User-Id\"}}}"
                + (extra.contains("rateLimits") ? ", \"rateLimit\": [\"per-user\"]" : "") + "},"
                + "  {\"upstream\": \"app\"}]");
    }

    private static String token(RSAKey key, String subject, long expiresInSeconds) throws Exception {
        JWTClaimsSet.Builder claims = new JWTClaimsSet.Builder().issuer(ISSUER).audience("api")
                .expirationTime(new Date(System.currentTimeMillis() + expiresInSeconds * 1000));
        if (subject != null) {
            claims.subject(subject);
        }
        SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).keyID(key.getKeyID()).build(), claims.build());
        jwt.sign(new RSASSASigner(key));
        return jwt.serialize();
    }

    private static HttpResponse<String> get(ConfiguredProxy proxy, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
                .timeout(Duration.ofSeconds(15));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String seenHeader(HttpResponse<String> response, String name) throws Exception {
        JsonNode values = JSON.readTree(response.body()).path("headers").path(name);
        return values.isMissingNode() ? null : values.get(0).asText();
    }

    @Test
    void withoutAValidTokenTheRouteAnswers401AndTheBackendSeesNothing() throws Exception {
        RSAKey key = new RSAKeyGenerator(2048).keyID("k1").generate();
        Path file = dir.resolve("keys.json");
        Files.writeString(file, new JWKSet(key.toPublicJWK()).toString());
        try (ConfiguredProxy proxy = proxy("\"jwksFile\": \"" + file + "\"", "")) {
            HttpResponse<String> missing = get(proxy, "/api/x");
            assertThat(missing.statusCode()).isEqualTo(401);
            assertThat(missing.headers().firstValue("www-authenticate")).hasValue("Bearer");
            assertThat(missing.body()).isEqualTo("bearer token required\n");

            HttpResponse<String> expired = get(proxy, "/api/x", "Authorization", "Bearer " + token(key, "alice", -120));
            assertThat(expired.statusCode()).isEqualTo(401);
            assertThat(expired.headers().firstValue("www-authenticate").orElseThrow())
                    .startsWith("Bearer error=\"invalid_token\", error_description=\"");

            String payload = Base64URL.encode("{\"iss\":\"" + ISSUER + "\",\"aud\":\"api\",\"sub\":\"root\",\"exp\":"
                    + (System.currentTimeMillis() / 1000 + 600) + "}").toString();
            String none = Base64URL.encode("{\"alg\":\"none\"}") + "." + payload + ".";
            HttpResponse<String> unsigned = get(proxy, "/api/x", "Authorization", "Bearer " + none);
            assertThat(unsigned.statusCode()).isEqualTo(401);
            assertThat(unsigned.headers().firstValue("www-authenticate").orElseThrow()).contains("invalid_token");

            assertThat(backend.requestCount()).isZero();
            assertThat(get(proxy, "/open").statusCode()).isEqualTo(200); // another route asks for nothing
        }
    }

    @Test
    void aValidTokensClaimIsForwardedAndAForgedClaimHeaderNeverReachesTheBackend() throws Exception {
        RSAKey key = new RSAKeyGenerator(2048).keyID("k1").generate();
        Path file = dir.resolve("keys.json");
        Files.writeString(file, new JWKSet(key.toPublicJWK()).toString());
        try (ConfiguredProxy proxy = proxy("\"jwksFile\": \"" + file + "\"", "")) {
            HttpResponse<String> ok = get(proxy, "/api/x", "Authorization", "Bearer " + token(key, "alice", 600),
                    "X-User-Id", "admin");
            assertThat(ok.statusCode()).isEqualTo(200);
            assertThat(seenHeader(ok, "x-user-id")).isEqualTo("alice");

            // A token without the claim: the client's own field is removed, not passed on.
            HttpResponse<String> noSub = get(proxy, "/api/x", "Authorization", "Bearer " + token(key, null, 600),
                    "X-User-Id", "admin");
            assertThat(noSub.statusCode()).isEqualTo(200);
            assertThat(seenHeader(noSub, "x-user-id")).isNull();
        }
    }

    @Test
    void aKeyRotatedInTheJwksIsFetchedWhileTheRequestWaits() throws Exception {
        RSAKey old = new RSAKeyGenerator(2048).keyID("old").generate();
        RSAKey rotated = new RSAKeyGenerator(2048).keyID("new").generate();
        jwksBody.set(new JWKSet(old.toPublicJWK()).toString());
        try (ConfiguredProxy proxy = proxy("\"jwksUrl\": \"http://127.0.0.1:" + jwks.getAddress().getPort() + "/jwks.json\"", "")) {
            String oldToken = token(old, "alice", 600);
            assertThat(get(proxy, "/api/x", "Authorization", "Bearer " + oldToken).statusCode()).isEqualTo(200);
            int fetches = jwksFetches.get();

            jwksBody.set(new JWKSet(List.of(old.toPublicJWK(), rotated.toPublicJWK())).toString());
            HttpResponse<String> withNewKey = get(proxy, "/api/x", "Authorization", "Bearer " + token(rotated, "bob", 600));
            assertThat(withNewKey.statusCode()).isEqualTo(200);
            assertThat(seenHeader(withNewKey, "x-user-id")).isEqualTo("bob");
            assertThat(jwksFetches.get()).isEqualTo(fetches + 1);

            // A kid no set has: refused, and another fetch so soon is not made.
            RSAKey stranger = new RSAKeyGenerator(2048).keyID("stranger").generate();
            HttpResponse<String> unknown = get(proxy, "/api/x", "Authorization", "Bearer " + token(stranger, "eve", 600));
            assertThat(unknown.statusCode()).isEqualTo(401);
            assertThat(jwksFetches.get()).isEqualTo(fetches + 1);
        }
    }

    @Test
    void aRequestWithABodyWaitsForTheRotatedKeyAndItsBodyArrivesWhole() throws Exception {
        RSAKey old = new RSAKeyGenerator(2048).keyID("old").generate();
        RSAKey rotated = new RSAKeyGenerator(2048).keyID("new").generate();
        jwksBody.set(new JWKSet(old.toPublicJWK()).toString());
        try (ConfiguredProxy proxy = proxy("\"jwksUrl\": \"http://127.0.0.1:" + jwks.getAddress().getPort() + "/jwks.json\"", "")) {
            assertThat(get(proxy, "/api/x", "Authorization", "Bearer " + token(old, "alice", 600)).statusCode()).isEqualTo(200);
            int fetches = jwksFetches.get();
            jwksBody.set(new JWKSet(List.of(old.toPublicJWK(), rotated.toPublicJWK())).toString());
            String body = "0123456789".repeat(1000);
            HttpResponse<String> posted = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/api/upload"))
                    .timeout(Duration.ofSeconds(15)).header("Authorization", "Bearer " + token(rotated, "bob", 600))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(posted.statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(posted.body()).path("body_bytes").asLong()).isEqualTo(body.length());
            assertThat(seenHeader(posted, "x-user-id")).isEqualTo("bob");
            assertThat(jwksFetches.get()).isEqualTo(fetches + 1); // the set was fetched for this request
        }
    }

    @Test
    void aLimitKeyedByAClaimCountsEachUserApart() throws Exception {
        RSAKey key = new RSAKeyGenerator(2048).keyID("k1").generate();
        Path file = dir.resolve("keys.json");
        Files.writeString(file, new JWKSet(key.toPublicJWK()).toString());
        try (ConfiguredProxy proxy = proxy("\"jwksFile\": \"" + file + "\"",
                "\"rateLimits\": {\"per-user\": {\"key\": \"jwt:sub\", \"requestsPerSecond\": 1, \"burst\": 1}},")) {
            String alice = "Bearer " + token(key, "alice", 600);
            String bob = "Bearer " + token(key, "bob", 600);
            assertThat(get(proxy, "/api/x", "Authorization", alice).statusCode()).isEqualTo(200);
            HttpResponse<String> limited = get(proxy, "/api/x", "Authorization", alice);
            assertThat(limited.statusCode()).isEqualTo(429);
            assertThat(limited.headers().firstValue("ratelimit")).hasValue("\"per-user\";r=0;t=1");
            assertThat(get(proxy, "/api/x", "Authorization", bob).statusCode()).isEqualTo(200);
        }
    }
}
