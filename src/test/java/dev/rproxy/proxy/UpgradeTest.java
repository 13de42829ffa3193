package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.server.ProxyServer;
import dev.rproxy.support.LoopbackServer;
import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawBackend;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.SocketBuffers;
import dev.rproxy.support.WebSocketEchoBackend;
import io.netty.handler.codec.http.HttpHeaders;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Protocol upgrades: a request that asks for one (Upgrade + Connection: upgrade) reaches the backend
 * with both; a 101 turns both connections into a byte tunnel with backpressure that closes as a
 * whole; a declined upgrade leaves an ordinary HTTP exchange; a 101 nobody asked for is a 502.
 */
class UpgradeTest {
    private static final String SWITCH = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-test\r\nConnection: Upgrade\r\n\r\n";
    /** What /flood sends after its 101: more than any host's socket buffers hold. */
    private static final long FLOOD_BYTES = 128L * 1024 * 1024;
    private static final String UPGRADE_GET = "GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: x-test\r\nConnection: Upgrade\r\n\r\n";

    private static WebSocketEchoBackend wsBackend;
    private static ProxyServer wsProxy;
    private static ScriptedBackend scripted;
    private static ProxyServer tunnelProxy;
    private static ProxyServer shortTunnelProxy;
    private static ExecutorService clientExecutor;

    @BeforeAll
    static void start() throws Exception {
        wsBackend = new WebSocketEchoBackend();
        wsProxy = ProxyExtension.startInFrontOf(wsBackend.url(), "");
        scripted = new ScriptedBackend();
        tunnelProxy = ProxyExtension.startInFrontOf(scripted.url(), "");
        shortTunnelProxy = ProxyExtension.startInFrontOf(scripted.url(), "\"timeouts\":{\"tunnelMs\":300}");
        clientExecutor = Executors.newCachedThreadPool();
    }

    @AfterAll
    static void stop() throws Exception {
        for (ProxyServer p : new ProxyServer[] {wsProxy, tunnelProxy, shortTunnelProxy}) {
            if (p != null) {
                p.close();
            }
        }
        if (wsBackend != null) {
            wsBackend.close();
        }
        if (scripted != null) {
            scripted.close();
        }
        if (clientExecutor != null) {
            clientExecutor.shutdownNow();
        }
    }

    @BeforeEach
    void forgetEarlierHeads() {
        scripted.heads.clear();
        scripted.events.clear();
    }

    // ---------------------------------------------------------------- WebSocket

    @Test
    void webSocketEchoesTextAndBinaryFramesThroughTheProxy() throws Exception {
        HttpClient http = HttpClient.newBuilder().executor(clientExecutor).build();
        Collector received = new Collector();
        WebSocket ws = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(5))
                .buildAsync(URI.create("ws://127.0.0.1:" + wsProxy.port() + "/ws"), received)
                .get(10, TimeUnit.SECONDS);

        HttpHeaders handshake = wsBackend.nextHandshake(5, TimeUnit.SECONDS);
        assertThat(handshake).isNotNull();
        assertThat(handshake.get("upgrade")).isEqualToIgnoringCase("websocket");
        assertThat(handshake.get("connection")).isEqualToIgnoringCase("upgrade");
        assertThat(handshake.get("x-forwarded-for")).isEqualTo("127.0.0.1");

        ws.sendText("hello through the proxy", true).get(5, TimeUnit.SECONDS);
        assertThat(received.texts.poll(5, TimeUnit.SECONDS)).isEqualTo("hello through the proxy");

        byte[] payload = new byte[1024 * 1024];
        new Random(42).nextBytes(payload);
        ws.sendBinary(ByteBuffer.wrap(payload), true).get(5, TimeUnit.SECONDS);
        assertThat(received.binaries.poll(10, TimeUnit.SECONDS)).isEqualTo(payload);

        ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
        assertThat(received.closed.get(5, TimeUnit.SECONDS)).isEqualTo(WebSocket.NORMAL_CLOSURE);
        assertAllClosed(wsProxy);
    }

    /** Collects whole messages (the client may deliver one in parts). */
    private static final class Collector implements WebSocket.Listener {
        final BlockingQueue<String> texts = new LinkedBlockingQueue<>();
        final BlockingQueue<byte[]> binaries = new LinkedBlockingQueue<>();
        final CompletableFuture<Integer> closed = new CompletableFuture<>();
        private final StringBuilder text = new StringBuilder();
        private final ByteArrayOutputStream binary = new ByteArrayOutputStream();

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                texts.add(text.toString());
                text.setLength(0);
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
            byte[] bytes = new byte[data.remaining()];
            data.get(bytes);
            binary.writeBytes(bytes);
            if (last) {
                binaries.add(binary.toByteArray());
                binary.reset();
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket ws, int statusCode, String reason) {
            closed.complete(statusCode);
            return null;
        }

        @Override
        public void onError(WebSocket ws, Throwable error) {
            closed.completeExceptionally(error);
        }
    }

    // ---------------------------------------------------------------- raw tunnel

    @Test
    void tunnelRelaysBytesBothWaysExactlyAndEndsWhenTheClientCloses() throws Exception {
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send(UPGRADE_GET);
            RawHttp.Response switched = raw.read();
            assertThat(switched.status()).isEqualTo(101);
            assertThat(switched.header("upgrade")).isEqualTo("x-test");
            assertThat(switched.header("connection")).isEqualToIgnoringCase("upgrade");
            String head = scripted.heads.poll(5, TimeUnit.SECONDS);
            assertThat(head).contains("upgrade: x-test\r\n").containsIgnoringCase("connection: upgrade\r\n");

            InputStream in = raw.socket().getInputStream();
            // Sent by the backend in the same write as its 101.
            assertThat(readExactly(in, 8)).isEqualTo("welcome\n");
            // Not HTTP: bytes no HTTP parser would let through, both ways.
            String notHttp = "\u0000\u0081\r\n\r\nGET / HTTP/1.1\r\n\u00ff";
            raw.send(notHttp);
            assertThat(readExactly(in, notHttp.length())).isEqualTo(notHttp);
        }
        assertThat(scripted.events.poll(5, TimeUnit.SECONDS)).isEqualTo("eof");
        assertAllClosed(tunnelProxy);
    }

    @Test
    void bytesTheClientSendsBeforeTheSwitchWaitAndReachTheBackendAfterIt() throws Exception {
        scripted.switchNow = new CountDownLatch(1);
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send(UPGRADE_GET.replace("/echo", "/switch-when-told"));
            assertThat(scripted.heads.poll(5, TimeUnit.SECONDS)).isNotNull();
            // Sent while the backend has not answered: neither HTTP for the proxy nor lost.
            raw.send("early");
            scripted.switchNow.countDown();
            assertThat(raw.read().status()).isEqualTo(101);
            assertThat(readExactly(raw.socket().getInputStream(), 5)).isEqualTo("early");
        }
        assertThat(scripted.events.poll(5, TimeUnit.SECONDS)).isEqualTo("eof");
    }

    @Test
    void clientThatHalfClosesWhileTheBackendDecidesEndsTheTunnel() throws Exception {
        scripted.switchNow = new CountDownLatch(1);
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send(UPGRADE_GET.replace("/echo", "/switch-when-told"));
            assertThat(scripted.heads.poll(5, TimeUnit.SECONDS)).isNotNull();
            // The client has sent all it will send before the backend answers. Whether the proxy
            // sees that end before the 101 (the relay notes it) or after (the tunnel does), the
            // tunnel ends as a whole.
            raw.socket().shutdownOutput();
            scripted.switchNow.countDown();
            assertThat(raw.read().status()).isEqualTo(101);
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
        assertThat(scripted.events.poll(5, TimeUnit.SECONDS)).isEqualTo("eof");
        assertAllClosed(tunnelProxy);
    }

    @Test
    void bytesSentWithTheUpgradeRequestAreTheTunnelsFirstBytes() throws Exception {
        scripted.switchNow = new CountDownLatch(1);
        // In one write with the request: HTTP that is not meant as HTTP, and bytes no parser takes.
        String behind = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n\u0000\u00ffraw";
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send(UPGRADE_GET.replace("/echo", "/switch-when-told") + behind);
            assertThat(scripted.heads.poll(5, TimeUnit.SECONDS)).startsWith("GET /switch-when-told ");
            scripted.switchNow.countDown();
            assertThat(raw.read().status()).isEqualTo(101);
            // Echoed by the backend: they reached it after its 101, byte for byte.
            assertThat(readExactly(raw.socket().getInputStream(), behind.length())).isEqualTo(behind);
            raw.send("more");
            assertThat(readExactly(raw.socket().getInputStream(), 4)).isEqualTo("more");
        }
        assertThat(scripted.events.poll(5, TimeUnit.SECONDS)).isEqualTo("eof");
        assertThat(scripted.heads).as("request heads the backend read as HTTP").isEmpty();
        assertAllClosed(tunnelProxy);
    }

    /**
     * What the client sent behind an upgrade request waits for the backend's answer; when that is
     * not a switch (a plain 200, a 502 for a bad 101, or the proxy's own answer) it is HTTP again.
     */
    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({"/decline, 200", "/switch-to-other, 502", "/_health, 200"})
    void requestPipelinedBehindAnUpgradeThatDidNotHappenIsAnsweredAsHttp(String path, int status) throws Exception {
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send(UPGRADE_GET.replace("/echo", path) + "GET /decline HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(status);
            RawHttp.Response next = raw.read();
            assertThat(next.status()).isEqualTo(200);
            assertThat(next.bodyText()).isEqualTo("plain");
            // And after the client's last byte, both are answered before the close.
            raw.send(UPGRADE_GET.replace("/echo", path) + "GET /decline HTTP/1.1\r\nHost: h\r\n\r\n");
            raw.socket().shutdownOutput();
            assertThat(raw.read().status()).isEqualTo(status);
            assertThat(raw.read().bodyText()).isEqualTo("plain");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
    }

    @Test
    void shutdownEndsAnOpenTunnelAfterTheGracePeriod() throws Exception {
        ProxyServer proxy = ProxyExtension.startInFrontOf(scripted.url(), "\"shutdown\":{\"graceMs\":300}");
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send(UPGRADE_GET);
            assertThat(raw.read().status()).isEqualTo(101);
            InputStream in = raw.socket().getInputStream();
            assertThat(readExactly(in, 8)).isEqualTo("welcome\n");
            long start = System.nanoTime();
            CompletableFuture<Void> stopped = CompletableFuture.runAsync(proxy::shutdown);
            // The tunnel keeps working during the grace period.
            raw.send("still here");
            assertThat(readExactly(in, 10)).isEqualTo("still here");
            stopped.get(10, TimeUnit.SECONDS);
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isGreaterThanOrEqualTo(250);
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        } finally {
            proxy.close();
        }
        assertThat(scripted.events.poll(5, TimeUnit.SECONDS)).isEqualTo("eof");
        assertThat(proxy.backends().all().get(0).activeConnections()).isZero();
    }

    @Test
    void tunnelEndsForTheClientWhenTheBackendCloses() throws Exception {
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send(UPGRADE_GET.replace("/echo", "/close-after-bye"));
            assertThat(raw.read().status()).isEqualTo(101);
            raw.send("bye");
            // The backend's last bytes arrive before the end of stream.
            assertThat(readExactly(raw.socket().getInputStream(), 8)).isEqualTo("goodbye\n");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> tunnelProxy.clientConnections() == 0);
    }

    @Test
    void tunnelAppliesBackpressureToABackendTheClientDoesNotRead() throws Exception {
        long total = FLOOD_BYTES;
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.socket().setReceiveBufferSize(64 * 1024);
            raw.send(UPGRADE_GET.replace("/echo", "/flood"));
            assertThat(raw.read().status()).isEqualTo(101);
            // While the client reads nothing, the backend gets stuck once the socket buffers and the
            // proxy's outbound buffers (high-water mark) are full: far below the 128 MiB it wants to send.
            long[] last = {-1};
            await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(250)).until(() -> {
                long now = scripted.flooded.get();
                boolean stuck = now > 0 && now == last[0];
                last[0] = now;
                return stuck;
            });
            assertThat(scripted.flooded.get()).isLessThan(SocketBuffers.maxInFlight(64 * 1024));
            // Then everything arrives once the client reads.
            InputStream in = raw.socket().getInputStream();
            byte[] buf = new byte[64 * 1024];
            long read = 0;
            while (read < total) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, total - read));
                assertThat(n).as("bytes after %d", read).isPositive();
                for (int i = 0; i < n; i++) {
                    if (buf[i] != (byte) ((read + i) % 251)) {
                        throw new AssertionError("byte " + (read + i) + " differs");
                    }
                }
                read += n;
            }
            assertThat(read).isEqualTo(total);
        }
    }

    @Test
    void idleTunnelIsClosedAfterTunnelMs() throws Exception {
        try (RawHttp raw = new RawHttp(shortTunnelProxy.port())) {
            raw.send(UPGRADE_GET);
            assertThat(raw.read().status()).isEqualTo(101);
            assertThat(readExactly(raw.socket().getInputStream(), 8)).isEqualTo("welcome\n");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
        assertThat(scripted.events.poll(5, TimeUnit.SECONDS)).isEqualTo("eof");
    }

    // ---------------------------------------------------------------- no switch

    @Test
    void declinedUpgradeIsAnOrdinaryExchangeAndTheConnectionStaysHttp() throws Exception {
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send(UPGRADE_GET.replace("/echo", "/decline"));
            RawHttp.Response declined = raw.read();
            assertThat(declined.status()).isEqualTo(200);
            assertThat(declined.bodyText()).isEqualTo("plain");
            assertThat(declined.header("upgrade")).isNull();
            raw.send("GET /decline HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
            assertThat(scripted.heads.poll(5, TimeUnit.SECONDS)).contains("upgrade: x-test\r\n");
            assertThat(scripted.heads.poll(5, TimeUnit.SECONDS)).isNotNull().doesNotContainIgnoringCase("upgrade");
        }
    }

    @Test
    void h2cIsNeverOfferedButOtherProtocolsBesideItAre() throws Exception {
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send("GET /decline HTTP/1.1\r\nHost: h\r\nUpgrade: h2c, x-test\r\n"
                    + "Connection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
            String head = scripted.heads.poll(5, TimeUnit.SECONDS);
            assertThat(head).contains("upgrade: x-test\r\n").doesNotContainIgnoringCase("h2c")
                    .doesNotContainIgnoringCase("http2-settings");
        }
    }

    /** A 101 without Upgrade, with an empty one, or to a protocol the request did not offer. */
    @ParameterizedTest
    @ValueSource(strings = {"/switch-without-upgrade", "/switch-empty-upgrade", "/switch-to-other"})
    void switchTheRequestDidNotAskForIsABadResponse(String path) throws Exception {
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send(UPGRADE_GET.replace("/echo", path));
            assertThat(raw.read().status()).isEqualTo(502);
        }
    }

    @Test
    void switchNobodyAskedForIsABadResponse() throws Exception {
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send("GET /echo HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(502);
        }
        // The backend, which switched, sees the proxy drop that connection: read here, its "eof"
        // cannot arrive after the next test has cleared the queue and pass for that test's.
        assertThat(scripted.events.poll(5, TimeUnit.SECONDS)).isEqualTo("eof");
    }

    /** Upgrade is hop-by-hop unless asked for properly; these reach the backend without it. */
    @ParameterizedTest
    @ValueSource(strings = {
        "GET /decline HTTP/1.1\r\nHost: h\r\nUpgrade: x-test\r\n\r\n",
        "GET /decline HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                + "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
        "GET /decline HTTP/1.0\r\nHost: h\r\nUpgrade: x-test\r\nConnection: Upgrade\r\n\r\n",
        "POST /decline HTTP/1.1\r\nHost: h\r\nUpgrade: x-test\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nhi",
        "POST /decline HTTP/1.1\r\nHost: h\r\nUpgrade: x-test\r\nConnection: Upgrade\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "2\r\nhi\r\n0\r\n\r\n",
    })
    void upgradeNotAskedForProperlyIsNotForwarded(String request) throws Exception {
        try (RawHttp raw = new RawHttp(tunnelProxy.port())) {
            raw.send(request);
            assertThat(raw.read().status()).isEqualTo(200);
            String head = scripted.heads.poll(5, TimeUnit.SECONDS);
            assertThat(head).isNotNull().doesNotContainIgnoringCase("upgrade");
        }
    }

    // ---------------------------------------------------------------- support

    /** Both sides of every tunnel through {@code proxy} are gone: no client connection, no backend exchange. */
    private static void assertAllClosed(ProxyServer proxy) {
        await().atMost(Duration.ofSeconds(10)).until(() -> proxy.clientConnections() == 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> proxy.backends().all().get(0).activeConnections() == 0);
    }

    private static String readExactly(InputStream in, int n) throws IOException {
        byte[] bytes = in.readNBytes(n);
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    /**
     * A backend that switches protocols by path: {@code /echo} sends "welcome\n" with its 101 and
     * echoes; {@code /close-after-bye} answers "bye" with "goodbye\n" and closes; {@code /flood}
     * sends 128 MiB (byte i is i % 251) counting what the socket took; {@code /decline} answers 200;
     * {@code /switch-without-upgrade} sends a 101 without Upgrade.
     */
    private static final class ScriptedBackend implements AutoCloseable {
        final BlockingQueue<String> heads = new LinkedBlockingQueue<>();
        final BlockingQueue<String> events = new LinkedBlockingQueue<>();
        final AtomicLong flooded = new AtomicLong();
        volatile CountDownLatch switchNow = new CountDownLatch(0);
        private final LoopbackServer server;

        ScriptedBackend() throws IOException {
            server = new LoopbackServer("upgrade-backend", this::serve);
        }

        String url() {
            return "http://127.0.0.1:" + server.port();
        }

        private void serve(Socket s) {
            try (s) {
                s.setSoTimeout(20_000);
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                while (true) {
                    String head = RawBackend.readHead(in);
                    if (head == null) {
                        return;
                    }
                    heads.add(head);
                    String path = head.split(" ", 3)[1];
                    if (path.equals("/decline")) {
                        if (head.startsWith("POST")) {
                            in.readNBytes(head.contains("chunked") ? "2\r\nhi\r\n0\r\n\r\n".length() : 2);
                        }
                        out.write(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain"));
                        out.flush();
                        continue;
                    }
                    switch (path) {
                        case "/echo" -> {
                            out.write(bytes(SWITCH + "welcome\n"));
                            out.flush();
                            echo(in, out);
                        }
                        case "/close-after-bye" -> {
                            out.write(bytes(SWITCH));
                            out.flush();
                            in.readNBytes(3);
                            out.write(bytes("goodbye\n"));
                            out.flush();
                        }
                        case "/flood" -> flood(out);
                        case "/switch-when-told" -> {
                            awaitQuietly(switchNow);
                            out.write(bytes(SWITCH));
                            out.flush();
                            echo(in, out);
                        }
                        case "/switch-empty-upgrade" -> {
                            out.write(bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: ,\r\nConnection: Upgrade\r\n\r\n"));
                            out.flush();
                            in.readAllBytes();
                        }
                        case "/switch-to-other" -> {
                            out.write(bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"));
                            out.flush();
                            in.readAllBytes();
                        }
                        case "/switch-without-upgrade" -> {
                            out.write(bytes("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n"));
                            out.flush();
                            in.readAllBytes();
                        }
                        default -> {
                            out.write(bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-test\r\n\r\n"));
                            out.flush();
                            in.readAllBytes();
                        }
                    }
                    return;
                }
            } catch (IOException e) {
                // closed by the proxy
            }
        }

        private void echo(InputStream in, OutputStream out) throws IOException {
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) != -1) {
                out.write(buf, 0, n);
                out.flush();
            }
            events.add("eof");
        }

        private void flood(OutputStream out) throws IOException {
            flooded.set(0);
            out.write(bytes(SWITCH));
            out.flush();
            byte[] block = new byte[64 * 1024];
            long total = FLOOD_BYTES;
            for (long sent = 0; sent < total; sent += block.length) {
                for (int i = 0; i < block.length; i++) {
                    block[i] = (byte) ((sent + i) % 251);
                }
                out.write(block);
                flooded.addAndGet(block.length);
            }
            out.flush();
        }

        private static void awaitQuietly(CountDownLatch latch) {
            try {
                latch.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private static byte[] bytes(String s) {
            return s.getBytes(StandardCharsets.ISO_8859_1);
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }
}
