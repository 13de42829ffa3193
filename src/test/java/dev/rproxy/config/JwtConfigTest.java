package dev.rproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link ConfigJson#jwt}: a JWT section of config.json, read strictly, messages with their JSON path. */
class JwtConfigTest {

    private static final Path BASE = Path.of("/etc/rproxy");

    @Test
    void readsEveryKey() {
        JwtConfig config = parse("{\"issuer\": \"https://issuer.test\", \"audiences\": [\"api\", \"web\"],"
                + " \"jwksUrl\": \"https://issuer.test/jwks\", \"algorithms\": [\"ES384\", \"EdDSA\"],"
                + " \"clockSkewSeconds\": 5, \"forwardClaims\": {\"sub\": \"X-User\", \"tenant\": \"X-Tenant\"},"
                + " \"jwksRefreshMs\": 60000}");

        assertThat(config).isEqualTo(new JwtConfig("https://issuer.test", List.of("api", "web"), null,
                URI.create("https://issuer.test/jwks"), List.of("ES384", "EdDSA"), 5,
                Map.of("sub", "X-User", "tenant", "X-Tenant"), 60_000));
    }

    @Test
    void aRelativeJwksFileStartsAtTheConfigFilesDirectoryAndDefaultsApply() {
        JwtConfig config = parse("{\"issuer\": \"https://issuer.test\", \"jwksFile\": \"keys/jwks.json\"}");

        assertThat(config).isEqualTo(new JwtConfig("https://issuer.test", BASE.resolve("keys/jwks.json"), null));
    }

    @Test
    void problemsNameTheirPath() {
        assertError("{\"jwksFile\": \"jwks.json\"}", "jwt.issuer: required");
        assertError("{\"issuer\": \"i\", \"jwksFile\": \"a.json\", \"jwksUrl\": \"https://x.test/\"}",
                "jwt.jwksFile: set together with jwksUrl");
        assertError("{\"issuer\": \"i\", \"jwksFile\": \"a.json\", \"algorithms\": [\"HS256\"]}",
                "jwt.algorithms[0]: \"HS256\" (symmetric algorithms are not supported");
        assertError("{\"issuer\": \"i\", \"jwksUrl\": \"not a url\"}",
                "jwt.jwksUrl: \"not a url\" (expected: an http:// or https:// URL)");
        assertError("{\"issuer\": \"i\", \"jwksFile\": \"a.json\", \"forwardClaims\": {\"sub\": 1}}",
                "jwt.forwardClaims.sub: expected a string, got 1");
        assertError("{\"issuer\": \"i\", \"jwksFile\": \"a.json\", \"clockSkew\": 1}", "jwt.clockSkew: unknown key");
    }

    private static JwtConfig parse(String section) {
        return JsonSection.root(JsonTree.parseObject("{\"jwt\": " + section + "}", ""), "jwt")
                .section("jwt", ConfigJson.JWT_KEYS).build(s -> ConfigJson.jwt(s, BASE));
    }

    private static void assertError(String section, String message) {
        assertThatThrownBy(() -> parse(section)).isInstanceOf(ConfigException.class).hasMessageStartingWith(message);
    }
}
