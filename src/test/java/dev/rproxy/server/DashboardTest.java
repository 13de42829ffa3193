package dev.rproxy.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.RedisServer;
import dev.rproxy.testbackend.TestBackend;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dashboard in a real browser: Debian's chromium, headless, driven by playwright-core
 * ({@code src/test/browser/dashboard.mjs}; {@code .ci/run} installs both). While traffic flows the
 * page must show a non-zero request rate, then a backend stopped must show as down, with no
 * console error all along. The screenshot it takes is the README's.
 */
class DashboardTest {
    private static final Path BROWSER = Path.of("src/test/browser");
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    @Test
    void theDashboardShowsRatesAndABackendGoingDownWithoutAConsoleError() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/chromium"))
                        && Files.isDirectory(BROWSER.resolve("node_modules/playwright-core")),
                "needs /usr/bin/chromium and npm's playwright-core in src/test/browser (.ci/run installs them)");
        try (TestBackend a = TestBackend.start("web-1", "127.0.0.1", 0); TestBackend b = TestBackend.start("web-2", "127.0.0.1", 0);
                TestBackend api = TestBackend.start("api-1", "127.0.0.1", 0);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"intervalMs\": 200, \"timeoutMs\": 1000},"
                        + "\"admin\": {\"host\": \"127.0.0.1\", \"port\": 0}, \"accessLog\": {\"enabled\": false},"
                        + "\"upstreams\": {\"web\": {\"backends\": [{\"id\": \"web-1\", \"url\": \"" + a.url() + "\"},"
                        + "  {\"id\": \"web-2\", \"url\": \"" + b.url() + "\"}]},"
                        + "  \"api\": {\"balancer\": \"least_request\", \"backends\": [{\"id\": \"api-1\", \"url\": \"" + api.url() + "\"}]}},"
                        + "\"routes\": [{\"match\": {\"pathPrefix\": \"/api\"}, \"upstream\": \"api\"}, {\"upstream\": \"web\"}]")) {
            Path screenshot = Path.of("target/dashboard.png").toAbsolutePath();
            try (Traffic traffic = new Traffic(proxy, i -> i % 3 == 0 ? "/api/items" : i % 17 == 0 ? "/status/404" : "/page");
                    Browser browser = new Browser(proxy, screenshot)) {
                assertThat(browser.next("rates")).as("non-zero rates on the page; the browser said: %s", browser.seen).isTrue();
                b.setHealthy(false);
                browser.send("down web-2");
                assertThat(browser.next("down web-2")).as("web-2 shown down; the browser said: %s", browser.seen).isTrue();
                browser.send("shot");
                assertThat(browser.next("shot")).as("the browser said: %s", browser.seen).isTrue();
                browser.end();
            }
            assertThat(Files.size(screenshot)).isPositive();
        }
    }

    @Test
    void aProxyWithRedisShowsTheFleetPanel() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/chromium"))
                        && Files.isDirectory(BROWSER.resolve("node_modules/playwright-core")) && RedisServer.available(),
                "needs /usr/bin/chromium, npm's playwright-core in src/test/browser and redis-server");
        try (RedisServer redis = new RedisServer(); TestBackend a = TestBackend.start("web-1", "127.0.0.1", 0);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"admin\": {\"host\": \"127.0.0.1\", \"port\": 0},"
                        + "\"accessLog\": {\"enabled\": false}, \"redis\": {\"url\": \"" + redis.url() + "\"},"
                        + "\"upstreams\": {\"web\": {\"backends\": [{\"id\": \"web-1\", \"url\": \"" + a.url() + "\"}]}},"
                        + "\"routes\": [{\"upstream\": \"web\"}]")) {
            try (Traffic traffic = new Traffic(proxy, i -> "/page");
                    Browser browser = new Browser(proxy, Path.of("target/dashboard-fleet.png").toAbsolutePath())) {
                assertThat(browser.next("rates")).as("the browser said: %s", browser.seen).isTrue();
                browser.send("fleet 1");
                browser.send("shot");
                assertThat(browser.next("fleet 1")).as("the fleet panel, connected, one member; the browser said: %s",
                        browser.seen).isTrue();
                assertThat(browser.next("shot")).as("the browser said: %s", browser.seen).isTrue();
                browser.end();
            }
        }
    }

    /** Requests through {@code proxy} on a thread of their own (paths by count), for at most 90 s or until closed. */
    private static final class Traffic implements AutoCloseable {
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;

        Traffic(ConfiguredProxy proxy, IntFunction<String> path) {
            thread = new Thread(() -> {
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
                for (int i = 0; running.get() && System.nanoTime() < end; i++) {
                    try {
                        HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path.apply(i)))
                                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding());
                    } catch (Exception e) {
                        return;
                    }
                }
            }, "dashboard-traffic");
            thread.start();
        }

        @Override
        public void close() throws InterruptedException {
            running.set(false);
            thread.join(10_000);
        }
    }

    /**
     * {@code dashboard.mjs} in headless chromium on the proxy's dashboard: commands go to its
     * input, the lines it prints are collected; {@link #end} asks it to finish and checks that it
     * did, cleanly, without a console or page error.
     */
    private static final class Browser implements AutoCloseable {
        final List<String> seen = new ArrayList<>();
        private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        private final Process node;
        private final Thread reader;
        private final Writer commands;

        Browser(ConfiguredProxy proxy, Path screenshot) throws Exception {
            node = new ProcessBuilder("node", "dashboard.mjs", "http://127.0.0.1:" + proxy.server().adminPort() + "/",
                    "web", screenshot.toString()).directory(BROWSER.toFile()).redirectErrorStream(true).start();
            reader = new Thread(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(node.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line = in.readLine(); line != null; line = in.readLine()) {
                        lines.add(line);
                    }
                } catch (Exception e) {
                    // the process ended
                }
            }, "dashboard-browser");
            reader.start();
            commands = new OutputStreamWriter(node.getOutputStream(), StandardCharsets.UTF_8);
        }

        void send(String command) throws Exception {
            commands.write(command + "\n");
            commands.flush();
        }

        boolean next(String wanted) throws InterruptedException {
            return DashboardTest.next(lines, seen, wanted);
        }

        /** Ends the browser and checks it ended well. */
        void end() throws Exception {
            send("end");
            assertThat(node.waitFor(30, TimeUnit.SECONDS)).isTrue();
            reader.join(10_000);
            lines.drainTo(seen);
            assertThat(seen).as("no console or page error").noneMatch(line -> line.startsWith("error"));
            assertThat(node.exitValue()).as("the browser said: %s", seen).isZero();
        }

        @Override
        public void close() throws Exception {
            try {
                commands.close();
            } catch (IOException e) {
                // the process has ended
            }
            node.destroyForcibly();
            reader.join(10_000);
        }
    }

    /** Waits (bounded) for {@code wanted} among the browser's lines; false on an error line or the time out. */
    private static boolean next(BlockingQueue<String> lines, List<String> seen, String wanted) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
        while (System.nanoTime() < end) {
            String line = lines.poll(1, TimeUnit.SECONDS);
            if (line == null) {
                continue;
            }
            seen.add(line);
            if (line.equals(wanted)) {
                return true;
            }
            if (line.startsWith("error") || line.startsWith("exit")) {
                return false;
            }
        }
        return false;
    }
}
