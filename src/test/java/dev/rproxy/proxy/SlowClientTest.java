package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.SocketBuffers;
import dev.rproxy.testbackend.TestBackend;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A slow client costs others nothing and the proxy holds nothing for it. One client with a 64 KiB
 * receive buffer asks for 1 GiB and reads it at 64 KiB every 20 ms; meanwhile four keep-alive
 * clients, all on the same event loop (one I/O thread), make 50 small requests each. Every one of
 * them succeeds, with a median latency under 200 ms and none over 2 s; and throughout, the bytes
 * the backend has sent but the slow client has not yet read stay within what the sockets between
 * them can hold, so the proxy is not buffering the response. A proxy that blocked its event loop
 * on the slow client would fail the first check; one that read the backend as fast as it writes
 * would fail the second within a second.
 */
class SlowClientTest {
    private static final Logger log = LoggerFactory.getLogger(SlowClientTest.class);
    private static final long GIB = 1L << 30;
    private static final int SLOW_READ_BYTES = 64 * 1024;
    private static final long SLOW_READ_PERIOD_MS = 20;
    private static final int CLIENTS = 4;
    private static final int REQUESTS_PER_CLIENT = 50;
    /**
     * What the socket buffers between backend and slow client can hold ({@link SocketBuffers}); about
     * 9 MiB is typical. The backend writes about 100 MiB/s even on a busy two-core host, so a proxy
     * that buffered would pass the bound within a second: one that never paused its upstream reads
     * left a gap of 400 MiB here.
     */
    private static final long GAP_BOUND = SocketBuffers.maxInFlight(SLOW_READ_BYTES);

    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1).config("\"server\":{\"ioThreads\":1}");

    @Test
    void othersAreServedNormallyWhileASlowClientReadsAGibibyte() throws Exception {
        TestBackend backend = proxy.backend(0);
        long[] baseline = requestsFromOtherClients();

        long[] during;
        long slowReadBefore;
        long slowReadAfter;
        try (SlowReader slow = SlowReader.start(proxy.port(), backend)) {
            // The response is flowing and every buffer on its way is full.
            await().atMost(Duration.ofSeconds(10)).until(() -> slow.failure() != null || slow.bodyRead() >= 1 << 20);
            assertThat(slow.failure()).isNull();

            slowReadBefore = slow.bodyRead();
            during = requestsFromOtherClients();
            slowReadAfter = slow.bodyRead();
            assertThat(slow.failure()).as("slow client while the others ran").isNull();

            // Go on feeding the slow client until ~3 s of feeding, long enough for a proxy that
            // buffers to run far past GAP_BOUND.
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> slow.failure() != null || slow.bodyRead() >= 10L << 20);
            assertThat(slow.failure()).isNull();
            log.info("slow client: read {} KiB, backend wrote {} KiB, largest gap {} KiB (bound {} KiB) over {} samples",
                    slow.bodyRead() >> 10, backend.streamedBytes() >> 10, slow.maxGap() >> 10, GAP_BOUND >> 10,
                    slow.samples());
            assertThat(slow.samples()).isGreaterThanOrEqualTo(50);
            assertThat(slow.maxGap()).as("bytes the backend sent that the slow client had not read").isLessThan(GAP_BOUND);
        }
        log.info("other clients' latency ms (median / p99 / max): alone {} / {} / {}; beside the slow client {} / {} / {}",
                ms(percentile(baseline, 50)), ms(percentile(baseline, 99)), ms(percentile(baseline, 100)),
                ms(percentile(during, 50)), ms(percentile(during, 99)), ms(percentile(during, 100)));
        assertThat(slowReadAfter).as("the slow client was still being fed while the others ran")
                .isGreaterThan(slowReadBefore);
        assertThat(during).hasSize(CLIENTS * REQUESTS_PER_CLIENT);
        // Alone, the median is a few ms on a loaded 2-core machine; a loop blocked by the slow
        // client would cost seconds. The bounds are absolute because the baseline is noisy.
        assertThat(percentile(during, 50)).as("median latency (ns) beside the slow client")
                .isLessThan(TimeUnit.MILLISECONDS.toNanos(200));
        assertThat(percentile(during, 100)).as("largest latency (ns) beside the slow client")
                .isLessThan(TimeUnit.SECONDS.toNanos(2));

        // The slow client is gone: the proxy drops its exchange and the backend connection with it.
        await().atMost(Duration.ofSeconds(10)).until(() -> proxy.server().clientConnections() == 0);
        await().atMost(Duration.ofSeconds(10))
                .until(() -> proxy.server().backends().all().get(0).activeConnections() == 0);
    }

    /**
     * {@link #CLIENTS} keep-alive connections, each making {@link #REQUESTS_PER_CLIENT} small GETs
     * one after another; returns every request's latency in nanoseconds, sorted. Any failure fails.
     */
    private static long[] requestsFromOtherClients() throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(CLIENTS);
        try {
            List<Callable<long[]>> clients = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                int client = c;
                clients.add(() -> {
                    long[] latencies = new long[REQUESTS_PER_CLIENT];
                    try (RawHttp raw = new RawHttp(proxy.port())) {
                        for (int i = 0; i < REQUESTS_PER_CLIENT; i++) {
                            long start = System.nanoTime();
                            raw.send("GET /small?client=" + client + "&i=" + i + " HTTP/1.1\r\nHost: h\r\n\r\n");
                            RawHttp.Response response = raw.read();
                            latencies[i] = System.nanoTime() - start;
                            assertThat(response.status()).isEqualTo(200);
                            assertThat(response.bodyText()).contains("\"query\":\"client=" + client + "&i=" + i + "\"");
                        }
                    }
                    return latencies;
                });
            }
            List<Future<long[]>> results = threads.invokeAll(clients, 60, TimeUnit.SECONDS);
            long[] all = new long[0];
            for (Future<long[]> result : results) {
                long[] latencies = result.get();
                int start = all.length;
                all = Arrays.copyOf(all, start + latencies.length);
                System.arraycopy(latencies, 0, all, start, latencies.length);
            }
            Arrays.sort(all);
            return all;
        } finally {
            threads.shutdownNow();
            assertThat(threads.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
    }

    /** The p-th percentile (nearest rank) of sorted values; 100 is the largest. */
    private static long percentile(long[] sorted, int p) {
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(rank, 1) - 1];
    }

    private static String ms(long nanos) {
        return String.format("%.1f", nanos / 1e6);
    }

    /**
     * Asks for 1 GiB and reads {@link #SLOW_READ_BYTES} of it every {@link #SLOW_READ_PERIOD_MS}
     * on a scheduler thread of its own, checking every byte; after each read it samples how far
     * the backend is ahead. {@link #close()} closes the connection mid-body and stops the thread.
     */
    private static final class SlowReader implements AutoCloseable {
        private final Socket socket;
        private final InputStream in;
        private final TestBackend backend;
        private final ScheduledExecutorService pacer = Executors.newSingleThreadScheduledExecutor(
                task -> new Thread(task, "slow-client"));
        private final byte[] buffer = new byte[SLOW_READ_BYTES];
        private final AtomicLong bodyRead = new AtomicLong();
        private final AtomicLong maxGap = new AtomicLong();
        private final AtomicInteger samples = new AtomicInteger();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private volatile boolean closing;
        private boolean headRead;

        private SlowReader(Socket socket, TestBackend backend) throws IOException {
            this.socket = socket;
            this.in = socket.getInputStream();
            this.backend = backend;
        }

        static SlowReader start(int port, TestBackend backend) throws IOException {
            Socket socket = new Socket();
            // Set before connecting so the window offered to the proxy is small from the start.
            socket.setReceiveBufferSize(SLOW_READ_BYTES);
            socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            socket.setSoTimeout(5000);
            SlowReader reader = new SlowReader(socket, backend);
            socket.getOutputStream().write(("GET /stream?bytes=" + GIB + " HTTP/1.1\r\nHost: h\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            reader.pacer.scheduleAtFixedRate(reader::tick, 0, SLOW_READ_PERIOD_MS, TimeUnit.MILLISECONDS);
            return reader;
        }

        private void tick() {
            if (closing || failure.get() != null) {
                return;
            }
            try {
                if (!headRead) {
                    String head = readHead();
                    assertThat(head).startsWith("HTTP/1.1 200").containsIgnoringCase("content-length: " + GIB);
                    headRead = true;
                }
                long base = bodyRead.get();
                int n = in.readNBytes(buffer, 0, buffer.length);
                if (n < buffer.length) {
                    throw new IOException("end of stream after " + (base + n) + " body bytes");
                }
                for (int i = 0; i < n; i++) {
                    if (buffer[i] != TestBackend.patternByte(base + i)) {
                        throw new AssertionError("body differs at byte " + (base + i));
                    }
                }
                bodyRead.addAndGet(n);
                // Read after our own count, so a write racing this sample can only enlarge the gap.
                long gap = backend.streamedBytes() - bodyRead.get();
                maxGap.accumulateAndGet(gap, Math::max);
                samples.incrementAndGet();
            } catch (Throwable t) {
                if (!closing) {
                    failure.set(t);
                }
            }
        }

        private String readHead() throws IOException {
            StringBuilder head = new StringBuilder();
            while (head.length() < 4 || !head.substring(head.length() - 4).equals("\r\n\r\n")) {
                int c = in.read();
                if (c < 0) {
                    throw new IOException("end of stream in the response head: " + head);
                }
                head.append((char) c);
            }
            return head.toString();
        }

        long bodyRead() {
            return bodyRead.get();
        }

        long maxGap() {
            return maxGap.get();
        }

        int samples() {
            return samples.get();
        }

        Throwable failure() {
            return failure.get();
        }

        /** Closes the socket first: that ends a read in progress, which an interrupt would not. */
        @Override
        public void close() throws Exception {
            closing = true;
            socket.close();
            pacer.shutdownNow();
            assertThat(pacer.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
    }
}
