package dev.rproxy.backend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.testbackend.TestBackend;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What a member of a registry in Redis may be, and what the test backend sends to register. */
class RedisRegistryMembersTest {

    @Test
    void aMemberIsHostAndPortWithIpv6InBrackets() {
        assertThat(RedisBackendSource.parse("10.0.0.7:8080")).isEqualTo(new BackendSource.Endpoint("10.0.0.7", 8080, 1));
        assertThat(RedisBackendSource.parse("jobs-1.internal:80")).isEqualTo(new BackendSource.Endpoint("jobs-1.internal", 80, 1));
        assertThat(RedisBackendSource.parse("[::1]:9000")).isEqualTo(new BackendSource.Endpoint("::1", 9000, 1));
        assertThat(RedisBackendSource.parse("[::1]:9000").authority()).isEqualTo("[::1]:9000");
        for (String bad : new String[] {"no-port", ":80", "host:", "host:0", "host:65536", "host:8x", "::1:80", "[::1]",
            "[10.0.0.1]:80", "a b:80", "host:123456", "http://host:80"}) {
            assertThat(RedisBackendSource.parse(bad)).as(bad).isNull();
        }
    }

    @Test
    void theTestBackendRegistersWithRespArraysOfBulkStrings() {
        assertThat(new String(TestBackend.Registration.resp("ZADD", "services:jobs", "1700000003000", "127.0.0.1:8081"),
                StandardCharsets.UTF_8)).isEqualTo("*4\r\n$4\r\nZADD\r\n$13\r\nservices:jobs\r\n$13\r\n1700000003000\r\n"
                + "$14\r\n127.0.0.1:8081\r\n");
    }
}
