import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The "normal traffic" of a soak run: an open-loop client that starts GET requests at a constant
 * rate, whatever happens to the ones before, and records each one's outcome and latency.
 *
 * <p>Usage: {@code java Traffic.java HOST PORT RATE PATH MAX_SECONDS LOG STOP_FILE [EXPECT_BYTES]}.
 * A RATE of the form {@code cN} runs closed loop instead (a warm-up): N threads, each sending its
 * next request as soon as the one before has ended, over at most N keep-alive connections.
 *
 * <ul>
 *   <li>Request n is due at {@code start + n / RATE}; its latency runs from that moment, so time a
 *       request waits for a connection or a thread counts. It is started on a thread of its own.
 *   <li>Requests reuse up to {@value #MAX_IDLE} idle keep-alive connections, taken in turn so that
 *       none sits idle for long (a new one is opened when none is idle); every
 *       {@value #FRESH_EVERY}th request uses a new connection and closes it.
 *   <li>Each request has {@value #TIMEOUT_MS} ms from its due time to get the whole response.
 *       Success is a 200 with the whole body (Content-Length or chunked; with EXPECT_BYTES, exactly
 *       that many body bytes). Anything else is a failure of one kind: {@code status} (another
 *       status), {@code timeout}, {@code reset} (connection reset), {@code closed} (end of stream
 *       before the response was complete), {@code connect} (connect refused or failed),
 *       {@code short} (wrong body length), {@code other}.
 *   <li>New requests stop after MAX_SECONDS or as soon as STOP_FILE exists; the ones in flight
 *       then finish (they are bounded by the timeout) and a summary line is printed:
 *       {@code traffic requests=N ok=N status=N timeout=N ... p50_ms=X p99_ms=X max_ms=X}
 *       (percentiles over successful requests).
 * </ul>
 *
 * <p>LOG gets one line per request as it ends, flushed at once so that it can be read while the
 * run goes on: {@code dueEpochMs endEpochMs latencyMicros kind status}.
 */
public final class Traffic {
    private static final int TIMEOUT_MS = 5000;
    private static final int MAX_IDLE = 4;
    private static final int FRESH_EVERY = 20;
    private static final String[] KINDS = {"ok", "status", "timeout", "reset", "closed", "connect", "short", "other"};

    /** A keep-alive connection and its buffered input. */
    private record Conn(Socket socket, InputStream in, OutputStream out) {
        void close() {
            try {
                socket.close();
            } catch (IOException e) {
                // nothing left to do
            }
        }
    }

    /** What went wrong, as one of {@link #KINDS}. */
    private static final class Failure extends Exception {
        final String kind;
        final int status;

        Failure(String kind, int status) {
            super(kind, null, false, false);
            this.kind = kind;
            this.status = status;
        }
    }

    private final InetSocketAddress target;
    private final byte[] request;
    private final byte[] closingRequest;
    private final long expectBytes;
    private final ConcurrentLinkedDeque<Conn> idle = new ConcurrentLinkedDeque<>();
    private final PrintWriter log;
    private final Map<String, AtomicInteger> counts = new TreeMap<>();
    private final List<Long> okLatencies = Collections.synchronizedList(new ArrayList<>());

    private Traffic(InetSocketAddress target, String host, String path, long expectBytes, PrintWriter log) {
        this.target = target;
        this.expectBytes = expectBytes;
        this.log = log;
        String head = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + target.getPort() + "\r\nUser-Agent: soak-traffic\r\n";
        this.request = (head + "\r\n").getBytes(StandardCharsets.US_ASCII);
        this.closingRequest = (head + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        for (String k : KINDS) {
            counts.put(k, new AtomicInteger());
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 7 || args.length > 8) {
            System.err.println("usage: java Traffic.java HOST PORT RATE PATH MAX_SECONDS LOG STOP_FILE [EXPECT_BYTES]");
            System.exit(2);
        }
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        String rate = args[2];
        long maxSeconds = Long.parseLong(args[4]);
        Path stopFile = Path.of(args[6]);
        long expect = args.length == 8 ? Long.parseLong(args[7]) : -1;
        try (PrintWriter log = new PrintWriter(Files.newBufferedWriter(Path.of(args[5])), false)) {
            new Traffic(new InetSocketAddress(host, port), host, args[3], expect, log).run(rate, maxSeconds, stopFile);
        }
    }

    private void run(String rate, long maxSeconds, Path stopFile) throws InterruptedException {
        if (rate.startsWith("c")) {
            runClosedLoop(Integer.parseInt(rate.substring(1)), maxSeconds, stopFile);
        } else {
            runOpenLoop(Double.parseDouble(rate), maxSeconds, stopFile);
        }
        for (Conn c; (c = idle.poll()) != null; ) {
            c.close();
        }
        System.out.println(summary());
    }

    private void runClosedLoop(int threads, long maxSeconds, Path stopFile) throws InterruptedException {
        long endNanos = System.nanoTime() + maxSeconds * 1_000_000_000L;
        List<Thread> all = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            Thread t = new Thread(() -> {
                while (System.nanoTime() < endNanos && !Files.exists(stopFile)) {
                    exchange(System.nanoTime(), System.currentTimeMillis(), false);
                }
            }, "traffic-" + i);
            t.setDaemon(true);
            t.start();
            all.add(t);
        }
        for (Thread t : all) {
            t.join(maxSeconds * 1000 + TIMEOUT_MS + 2000);
        }
    }

    private void runOpenLoop(double rate, long maxSeconds, Path stopFile) throws InterruptedException {
        ExecutorService threads = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "traffic");
            t.setDaemon(true);
            return t;
        });
        long periodNanos = (long) (1e9 / rate);
        long startNanos = System.nanoTime();
        long startEpochMs = System.currentTimeMillis();
        long endNanos = startNanos + maxSeconds * 1_000_000_000L;
        long nextStopCheck = startNanos;
        for (long n = 0; ; n++) {
            long due = startNanos + n * periodNanos;
            if (due >= endNanos) {
                break;
            }
            long wait;
            while ((wait = due - System.nanoTime()) > 0) {
                LockSupport.parkNanos(wait);
            }
            if (System.nanoTime() >= nextStopCheck) {
                if (Files.exists(stopFile)) {
                    break;
                }
                nextStopCheck = System.nanoTime() + 100_000_000L;
            }
            long dueEpochMs = startEpochMs + (due - startNanos) / 1_000_000;
            boolean fresh = n % FRESH_EVERY == FRESH_EVERY - 1;
            threads.execute(() -> exchange(due, dueEpochMs, fresh));
        }
        threads.shutdown();
        threads.awaitTermination(TIMEOUT_MS + 2000, TimeUnit.MILLISECONDS);
    }

    /** One request, from its due time; records its outcome. */
    private void exchange(long dueNanos, long dueEpochMs, boolean fresh) {
        long deadline = dueNanos + TIMEOUT_MS * 1_000_000L;
        String kind = "ok";
        int status = 0;
        Conn conn = null;
        try {
            conn = fresh ? null : idle.pollFirst();
            if (conn == null) {
                conn = connect(deadline);
            }
            conn.out().write(fresh ? closingRequest : request);
            conn.out().flush();
            boolean keepAlive = readResponse(conn, deadline);
            if (keepAlive && !fresh && idle.size() < MAX_IDLE) {
                idle.offerLast(conn);
                conn = null;
            }
            status = 200;
        } catch (Failure f) {
            kind = f.kind;
            status = f.status;
        } catch (SocketTimeoutException e) {
            kind = "timeout";
        } catch (ConnectException e) {
            kind = "connect";
        } catch (EOFException e) {
            kind = "closed";
        } catch (SocketException e) {
            String m = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
            kind = m.contains("reset") ? "reset" : m.contains("broken pipe") ? "closed" : "other";
        } catch (IOException | RuntimeException e) {
            kind = "other";
        } finally {
            if (conn != null) {
                conn.close();
            }
        }
        long latencyMicros = (System.nanoTime() - dueNanos) / 1000;
        if (kind.equals("ok")) {
            okLatencies.add(latencyMicros);
        }
        counts.get(kind).incrementAndGet();
        synchronized (log) {
            log.println(dueEpochMs + " " + System.currentTimeMillis() + " " + latencyMicros + " " + kind + " " + status);
            log.flush();
        }
    }

    private Conn connect(long deadline) throws IOException, Failure {
        Socket s = new Socket();
        try {
            s.setTcpNoDelay(true);
            s.connect(target, remainingMs(deadline));
            return new Conn(s, new BufferedInputStream(s.getInputStream(), 16 * 1024), s.getOutputStream());
        } catch (SocketTimeoutException e) {
            s.close();
            throw new Failure("timeout", 0);
        } catch (IOException e) {
            s.close();
            throw new ConnectException(e.getMessage());
        }
    }

    private static int remainingMs(long deadline) throws Failure {
        long ms = (deadline - System.nanoTime()) / 1_000_000;
        if (ms <= 0) {
            throw new Failure("timeout", 0);
        }
        return (int) ms;
    }

    /** Reads one response to the end; true when the connection may carry another request. */
    private boolean readResponse(Conn c, long deadline) throws IOException, Failure {
        String statusLine = readLine(c, deadline);
        String[] parts = statusLine.split(" ", 3);
        if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
            throw new Failure("other", 0);
        }
        int status;
        try {
            status = Integer.parseInt(parts[1]);
        } catch (NumberFormatException e) {
            throw new Failure("other", 0);
        }
        long length = -1;
        boolean chunked = false;
        boolean keepAlive = parts[0].equals("HTTP/1.1");
        for (String line; !(line = readLine(c, deadline)).isEmpty(); ) {
            int colon = line.indexOf(':');
            if (colon <= 0) {
                throw new Failure("other", status);
            }
            String name = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            String value = line.substring(colon + 1).trim().toLowerCase(Locale.ROOT);
            switch (name) {
                case "content-length" -> length = Long.parseLong(value);
                case "transfer-encoding" -> chunked = value.equals("chunked");
                case "connection" -> keepAlive = keepAlive ? !value.contains("close") : value.contains("keep-alive");
                default -> { }
            }
        }
        long body;
        if (chunked) {
            body = 0;
            for (long size; (size = Long.parseLong(readLine(c, deadline).split(";", 2)[0].trim(), 16)) > 0; ) {
                skip(c, size, deadline);
                body += size;
                readLine(c, deadline);
            }
            while (!readLine(c, deadline).isEmpty()) {
                // trailer fields
            }
        } else if (length >= 0) {
            skip(c, length, deadline);
            body = length;
        } else {
            body = skipToEnd(c, deadline);
            keepAlive = false;
        }
        if (status != 200) {
            throw new Failure("status", status);
        }
        if (expectBytes >= 0 && body != expectBytes) {
            throw new Failure("short", status);
        }
        return keepAlive;
    }

    private static String readLine(Conn c, long deadline) throws IOException, Failure {
        StringBuilder sb = new StringBuilder();
        while (true) {
            c.socket().setSoTimeout(remainingMs(deadline));
            int b = c.in().read();
            if (b < 0) {
                throw new EOFException();
            }
            if (b == '\n') {
                int len = sb.length();
                return len > 0 && sb.charAt(len - 1) == '\r' ? sb.substring(0, len - 1) : sb.toString();
            }
            if (sb.length() > 16 * 1024) {
                throw new Failure("other", 0);
            }
            sb.append((char) b);
        }
    }

    private static void skip(Conn c, long n, long deadline) throws IOException, Failure {
        byte[] buf = new byte[8192];
        while (n > 0) {
            c.socket().setSoTimeout(remainingMs(deadline));
            int r = c.in().read(buf, 0, (int) Math.min(buf.length, n));
            if (r < 0) {
                throw new EOFException();
            }
            n -= r;
        }
    }

    private static long skipToEnd(Conn c, long deadline) throws IOException, Failure {
        byte[] buf = new byte[8192];
        long total = 0;
        while (true) {
            c.socket().setSoTimeout(remainingMs(deadline));
            int r = c.in().read(buf);
            if (r < 0) {
                return total;
            }
            total += r;
        }
    }

    private String summary() {
        List<Long> ok;
        synchronized (okLatencies) {
            ok = new ArrayList<>(okLatencies);
        }
        Collections.sort(ok);
        int total = counts.values().stream().mapToInt(AtomicInteger::get).sum();
        StringBuilder sb = new StringBuilder("traffic requests=").append(total);
        for (String k : KINDS) {
            sb.append(' ').append(k).append('=').append(counts.get(k).get());
        }
        sb.append(String.format(Locale.ROOT, " p50_ms=%.2f p99_ms=%.2f max_ms=%.2f",
                percentile(ok, 50) / 1000.0, percentile(ok, 99) / 1000.0, ok.isEmpty() ? 0.0 : ok.get(ok.size() - 1) / 1000.0));
        return sb.toString();
    }

    private static long percentile(List<Long> sorted, double p) {
        if (sorted.isEmpty()) {
            return 0;
        }
        int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
    }
}
