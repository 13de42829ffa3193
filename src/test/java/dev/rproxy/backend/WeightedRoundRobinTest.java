package dev.rproxy.backend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.config.ConfigLoader;
import dev.rproxy.server.ProxyServer;
import dev.rproxy.support.RawHttp;
import dev.rproxy.testbackend.TestBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code backends[].weight}: requests are spread by nginx's smooth weighted round-robin, each
 * backend's share exact over a cycle and spread through it, not sent in bursts. One event loop, so
 * the order is the one a single loop produces.
 */
class WeightedRoundRobinTest {
    private static final Pattern BACKEND = Pattern.compile("\"backend\":\"([^\"]+)\"");

    @TempDir
    Path dir;

    /** The backends that answer {@code n} requests in a row on one keep-alive connection. */
    private List<String> answers(List<TestBackend> backends, int[] weights, int n) throws Exception {
        StringBuilder list = new StringBuilder();
        for (int i = 0; i < backends.size(); i++) {
            list.append(i > 0 ? "," : "").append("{\"id\": \"").append(backends.get(i).id()).append("\", \"url\": \"")
                    .append(backends.get(i).url()).append("\", \"weight\": ").append(weights[i]).append('}');
        }
        Path config = Files.writeString(dir.resolve("proxy.json"), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0},"
                + "\"backends\": [" + list + "], \"healthCheck\": {\"enabled\": false}, \"server\": {\"ioThreads\": 1}}");
        ProxyServer proxy = new ProxyServer(ConfigLoader.load(config));
        proxy.start();
        List<String> order = new ArrayList<>();
        try (RawHttp raw = new RawHttp(proxy.port())) {
            for (int i = 0; i < n; i++) {
                raw.send("GET /w?i=" + i + " HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response response = raw.read();
                assertThat(response.status()).isEqualTo(200);
                Matcher m = BACKEND.matcher(response.bodyText());
                assertThat(m.find()).isTrue();
                order.add(m.group(1));
            }
        } finally {
            proxy.shutdown();
        }
        return order;
    }

    @Test
    void weightsThreeAndOneGiveThreeInFourSpreadOut() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0)) {
            assertThat(answers(List.of(a, b), new int[] {3, 1}, 8)).containsExactly("a", "a", "b", "a", "a", "a", "b", "a");
        }
    }

    @Test
    void aHeavyBackendIsNotSentItsShareInABurst() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0);
                TestBackend c = TestBackend.start("c", "127.0.0.1", 0)) {
            List<String> order = answers(List.of(a, b, c), new int[] {5, 1, 1}, 70);
            assertThat(order.subList(0, 7)).containsExactly("a", "a", "b", "a", "c", "a", "a");
            assertThat(order.stream().filter("a"::equals).count()).isEqualTo(50);
            assertThat(order.stream().filter("b"::equals).count()).isEqualTo(10);
            assertThat(order.stream().filter("c"::equals).count()).isEqualTo(10);
            int longest = 0;
            int run = 0;
            for (String s : order) {
                run = s.equals("a") ? run + 1 : 0;
                longest = Math.max(longest, run);
            }
            assertThat(longest).as("longest run of the heavy backend").isLessThan(5);
        }
    }

    @Test
    void equalWeightsAlternate() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0)) {
            List<String> order = answers(List.of(a, b), new int[] {2, 2}, 6);
            assertThat(order.stream().filter("a"::equals).count()).isEqualTo(3);
            for (int i = 1; i < order.size(); i++) {
                assertThat(order.get(i)).isNotEqualTo(order.get(i - 1));
            }
        }
    }
}
