package dev.rproxy.testbackend;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Collectors;

/**
 * A JDK-only HTTP/1.1 origin server used as the proxy's backend in the demo and in integration
 * tests. It shares no code with the proxy, so codec quirks on one side cannot hide those of the other.
 *
 * <p>Endpoints (query parameters are read from the raw query and URL-decoded):
 * <ul>
 *   <li>{@code /_health}: 200 {@code {"status":"ok","backend":id}}, or 503 with status "failing"
 *       after {@code setHealthy(false)}.
 *   <li>{@code /stream?bytes=N[&chunked=1]}: N pattern bytes ({@link #patternByte}), Content-Length
 *       framing unless chunked=1.
 *   <li>{@code /delay?ms=N}: waits N ms before the response head, then answers like the default.
 *   <li>{@code /drip?chunks=N&bytes=M&ms=K}: chunked, N flushed pieces of M pattern bytes, K ms apart;
 *       the pattern index runs on across pieces.
 *   <li>{@code /status/<code>}: that status (200..599) with the text body "status code"; no body for
 *       204 and 304.
 *   <li>{@code /echo}: streams the request body back, chunked, with the request's Content-Type.
 *   <li>{@code /headers?name=value...}: adds each pair as a response header, body as the default.
 *   <li>{@code /sink}: reads the body and answers {@code {"body_bytes":N,"crc32":C}} (CRC-32 of the body).
 *   <li>{@code /die?after=N}: announces Content-Length 1000000, sends N pattern bytes (at most
 *       999999), then closes the connection. Without {@code after} it closes before any response.
 *   <li>anything else: 200 with a JSON description of the request (see {@code describe}).
 * </ul>
 * A HEAD request gets the head GET would get (Content-Length or Transfer-Encoding included), no
 * body. Bad parameters get 400.
 *
 * <p>What the JDK server adds on the wire: a Date header on every response; its own framing
 * header (Content-length for a fixed length, Transfer-encoding: chunked for length 0; HTTP/1.0
 * clients get a close-delimited body instead); header names case-normalized as in
 * "Content-type"; a 100 Continue interim response as soon as a request says Expect: 100-continue.
 * A response header Connection: close (e.g. via /headers) makes it close after the exchange. A
 * Content-Length set via /headers is overwritten, but a Transfer-Encoding set there is sent beside
 * the server's Content-length: a deliberately conflicting framing for tests. The JDK 17 server
 * does not validate names either, so /headers can also send a name with a space, an empty name,
 * or (with "%0d%0a%20") an obs-fold value.
 *
 * <p>{@code /_health} requests are left out of {@link #requestCount()} and
 * {@link #acceptedConnections()}, so periodic probes do not disturb what tests count.
 * {@link #streamedBytes()} counts the {@code /stream} body bytes written so far, so a test can
 * compare what the backend has sent with what its client has received.
 *
 * <p>Threads: the JDK server's dispatcher accepts and parses; every exchange then runs on a pooled
 * daemon thread named {@code test-backend-<port>-N}, so slow or blocking handlers never stall others.
 */
public final class TestBackend implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(TestBackend.class.getName());
    private static final int BUFFER_SIZE = 64 * 1024;
    private static final long DIE_ANNOUNCED_LENGTH = 1_000_000;
    private static final String JSON = "application/json";
    private static final String TEXT = "text/plain; charset=utf-8";
    private static final String OCTETS = "application/octet-stream";

    private final String id;
    private final int port;
    private final HttpServer server;
    private final ExecutorService executor;
    private final Set<InetSocketAddress> connections = ConcurrentHashMap.newKeySet();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong streamed = new AtomicLong();
    private volatile boolean healthy = true;
    private volatile Registration registration;

    private TestBackend(String id, int port, HttpServer server, ExecutorService executor) {
        this.id = id;
        this.port = port;
        this.server = server;
        this.executor = executor;
    }

    static {
        // The JDK server writes a response's head and body separately; with Nagle's algorithm on,
        // a small body then waits for the peer's delayed ACK (~40 ms per response). Read once per
        // JVM, before the first server starts; the test run also sets it on the command line.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    /** Starts a backend on all interfaces (the standalone demo); port 0 picks a free port. */
    public static TestBackend start(String id, int port) throws IOException {
        return start(id, "0.0.0.0", port);
    }

    /** Starts a backend bound to {@code host}; port 0 picks a free port. */
    public static TestBackend start(String id, String host, int port) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 1024);
        int bound = server.getAddress().getPort();
        ExecutorService executor = Executors.newCachedThreadPool(daemonThreads("test-backend-" + bound + "-"));
        TestBackend backend = new TestBackend(id, bound, server, executor);
        server.setExecutor(executor);
        server.createContext("/", backend::handle);
        server.start();
        return backend;
    }

    public int port() {
        return port;
    }

    public String id() {
        return id;
    }

    public String url() {
        return "http://127.0.0.1:" + port;
    }

    /** Switches {@code /_health} between 200 and 503; takes effect for the next probe. */
    public void setHealthy(boolean healthy) {
        this.healthy = healthy;
    }

    /** Distinct client connections (remote address and port) that carried a non-health request. */
    public int acceptedConnections() {
        return connections.size();
    }

    /** Requests received so far, {@code /_health} excluded; counted when the head arrives. */
    public long requestCount() {
        return requests.get();
    }

    /**
     * {@code /stream} body bytes handed to the JDK server so far, all requests together; a byte
     * counts once its write returns, when it is at most a small buffer away from the socket.
     */
    public long streamedBytes() {
        return streamed.get();
    }

    /**
     * Registers this backend as {@code 127.0.0.1:port} in the registry {@code key} of the Redis at
     * {@code redisUrl} until {@link #close} (see {@link Registration}).
     */
    public Registration register(String redisUrl, String key) {
        return register(redisUrl, key, "127.0.0.1:" + port);
    }

    /** Registers this backend as {@code member} ({@code host:port}) in the registry {@code key}; replaces a registration before. */
    public synchronized Registration register(String redisUrl, String key, String member) {
        if (registration != null) {
            registration.close();
        }
        registration = Registration.start(redisUrl, key, member);
        return registration;
    }

    /**
     * Stops listening, drops open connections and interrupts running handlers; a registration is
     * removed first. Idempotent.
     */
    @Override
    public void close() {
        Registration r = registration;
        if (r != null) {
            r.close();
        }
        server.stop(0);
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The byte at offset {@code i} of every generated body. Mixing in the higher bytes of the
     * offset means a body shifted by a multiple of 256 bytes does not compare equal.
     */
    public static byte patternByte(long i) {
        long x = i ^ (i >>> 8) ^ (i >>> 16) ^ (i >>> 24) ^ (i >>> 32);
        return (byte) (x * 31 + 7);
    }

    private void handle(HttpExchange ex) {
        try {
            String path = ex.getRequestURI().getRawPath();
            path = path == null ? "" : path;
            if (!path.equals("/_health")) {
                requests.incrementAndGet();
                connections.add(ex.getRemoteAddress());
            }
            route(ex, path, parseQuery(ex.getRequestURI().getRawQuery()));
        } catch (IllegalArgumentException e) {
            badRequest(ex, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOG.log(Level.FINE, "exchange interrupted", e);
        } catch (Exception e) {
            LOG.log(Level.FINE, "exchange failed: " + ex.getRequestMethod() + " " + ex.getRequestURI(), e);
        } finally {
            ex.close();
        }
    }

    private void route(HttpExchange ex, String path, List<String[]> query) throws IOException, InterruptedException {
        if (path.equals("/echo")) {
            echo(ex);
            return;
        }
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        long bodyBytes = drain(new java.util.zip.CheckedInputStream(ex.getRequestBody(), crc));
        switch (path) {
            case "/_health" -> {
                String status = healthy ? "ok" : "failing";
                send(ex, healthy ? 200 : 503, JSON,
                        "{\"status\":\"" + status + "\",\"backend\":" + quote(id) + "}");
            }
            case "/stream" -> stream(ex, param(query, "bytes", 0), param(query, "chunked", 0) == 1);
            case "/delay" -> {
                Thread.sleep(param(query, "ms", 0));
                send(ex, 200, JSON, describe(ex, bodyBytes));
            }
            case "/drip" -> drip(ex, param(query, "chunks", 1), param(query, "bytes", 1), param(query, "ms", 0));
            case "/headers" -> {
                // Headers.add rejects a CR or LF not followed by whitespace (a 400 here).
                for (String[] pair : query) {
                    ex.getResponseHeaders().add(pair[0], pair[1]);
                }
                send(ex, 200, JSON, describe(ex, bodyBytes));
            }
            case "/sink" -> send(ex, 200, JSON, "{\"body_bytes\":" + bodyBytes + ",\"crc32\":" + crc.getValue() + "}");
            case "/die" -> die(ex, query);
            default -> {
                if (path.startsWith("/status/")) {
                    int status = Integer.parseInt(path.substring("/status/".length()));
                    if (status < 200 || status > 599) {
                        throw new IllegalArgumentException("status out of range: " + status);
                    }
                    send(ex, status, TEXT, "status " + status);
                } else {
                    send(ex, 200, JSON, describe(ex, bodyBytes));
                }
            }
        }
    }

    private void stream(HttpExchange ex, long length, boolean chunked) throws IOException {
        ex.getResponseHeaders().set("Content-Type", OCTETS);
        if (isHead(ex)) {
            headOnly(ex, 200, chunked ? "Transfer-Encoding" : "Content-Length", chunked ? "chunked" : "" + length);
            return;
        }
        // sendResponseHeaders: 0 selects chunked, -1 an empty body with Content-length: 0.
        ex.sendResponseHeaders(200, chunked ? 0 : (length == 0 ? -1 : length));
        OutputStream counting = new FilterOutputStream(ex.getResponseBody()) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
                streamed.addAndGet(len);
            }
        };
        writePattern(counting, 0, length, new byte[BUFFER_SIZE]);
    }

    private static void drip(HttpExchange ex, long chunks, long bytes, long millis)
            throws IOException, InterruptedException {
        ex.getResponseHeaders().set("Content-Type", OCTETS);
        if (isHead(ex)) {
            headOnly(ex, 200, "Transfer-Encoding", "chunked");
            return;
        }
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        byte[] buffer = new byte[(int) Math.min(BUFFER_SIZE, Math.max(bytes, 1))];
        for (long c = 0; c < chunks; c++) {
            if (c > 0) {
                Thread.sleep(millis);
            }
            writePattern(out, c * bytes, bytes, buffer);
            out.flush();
        }
    }

    /** Echoes as it reads: each block read is written and flushed before the next read. */
    private static void echo(HttpExchange ex) throws IOException {
        String type = ex.getRequestHeaders().getFirst("Content-Type");
        ex.getResponseHeaders().set("Content-Type", type == null ? OCTETS : type);
        if (isHead(ex)) {
            drain(ex.getRequestBody());
            headOnly(ex, 200, "Transfer-Encoding", "chunked");
            return;
        }
        ex.sendResponseHeaders(200, 0);
        InputStream in = ex.getRequestBody();
        OutputStream out = ex.getResponseBody();
        byte[] buffer = new byte[BUFFER_SIZE];
        for (int n; (n = in.read(buffer)) != -1; ) {
            out.write(buffer, 0, n);
            out.flush();
        }
    }

    /**
     * Closing an exchange whose fixed-length body is incomplete makes the JDK server close the
     * connection (after flushing what was written), so the client sees a truncated body.
     */
    private static void die(HttpExchange ex, List<String[]> query) throws IOException {
        if (first(query, "after") == null || isHead(ex)) {
            ex.close();
            return;
        }
        long after = Math.min(param(query, "after", 0), DIE_ANNOUNCED_LENGTH - 1);
        ex.getResponseHeaders().set("Content-Type", OCTETS);
        ex.sendResponseHeaders(200, DIE_ANNOUNCED_LENGTH);
        OutputStream out = ex.getResponseBody();
        writePattern(out, 0, after, new byte[BUFFER_SIZE]);
        out.flush();
        ex.close();
    }

    /**
     * The default JSON answer: backend, port, method, raw path, raw query (or null), the request's
     * Content-Length (a number, a string if not numeric, or null), the body bytes actually read,
     * and every request header under its lower-cased name, values in arrival order.
     */
    private String describe(HttpExchange ex, long bodyBytes) {
        String contentLength = ex.getRequestHeaders().getFirst("Content-Length");
        // The JDK keeps one case-normalized key per name, each value as received on its own line.
        String headers = new TreeMap<>(ex.getRequestHeaders()).entrySet().stream()
                .map(h -> quote(h.getKey().toLowerCase(Locale.ROOT))
                        + h.getValue().stream().map(TestBackend::quote).collect(Collectors.joining(",", ":[", "]")))
                .collect(Collectors.joining(",", "{", "}"));
        return new StringBuilder(512)
                .append("{\"backend\":").append(quote(id))
                .append(",\"port\":").append(port)
                .append(",\"method\":").append(quote(ex.getRequestMethod()))
                .append(",\"path\":").append(quote(ex.getRequestURI().getRawPath()))
                .append(",\"query\":").append(quote(ex.getRequestURI().getRawQuery()))
                .append(",\"content_length\":")
                .append(contentLength != null && contentLength.matches("0|[1-9][0-9]{0,17}")
                        ? contentLength : quote(contentLength))
                .append(",\"body_bytes\":").append(bodyBytes)
                .append(",\"headers\":").append(headers)
                .append('}').toString();
    }

    /** Sends a complete body; HEAD, 204 and 304 get the head only. Keeps a Content-Type already set. */
    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        boolean noBody = status == 204 || status == 304;
        Headers headers = ex.getResponseHeaders();
        if (!noBody && headers.getFirst("Content-Type") == null) {
            headers.set("Content-Type", type);
        }
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        if (noBody) {
            ex.sendResponseHeaders(status, -1);
        } else if (isHead(ex)) {
            headOnly(ex, status, "Content-Length", "" + bytes.length);
        } else {
            ex.sendResponseHeaders(status, bytes.length);
            ex.getResponseBody().write(bytes);
        }
    }

    /** A HEAD answer carrying the framing header GET would get; the JDK keeps it when set by hand. */
    private static void headOnly(HttpExchange ex, int status, String name, String value) throws IOException {
        ex.getResponseHeaders().set(name, value);
        ex.sendResponseHeaders(status, -1);
    }

    private static void badRequest(HttpExchange ex, IllegalArgumentException e) {
        LOG.log(Level.FINE, "bad request: " + ex.getRequestURI(), e);
        if (ex.getResponseCode() != -1) {
            return;
        }
        try {
            ex.getResponseHeaders().clear();
            send(ex, 400, TEXT, "bad request: " + e.getMessage());
        } catch (IOException | RuntimeException sendFailure) {
            LOG.log(Level.FINE, "could not send 400", sendFailure);
        }
    }

    private static boolean isHead(HttpExchange ex) {
        return ex.getRequestMethod().equals("HEAD");
    }

    /** Reads a body to its end in 64 KiB reads without keeping it; returns its length. */
    private static long drain(InputStream in) throws IOException {
        byte[] buffer = new byte[BUFFER_SIZE];
        long total = 0;
        for (int n; (n = in.read(buffer)) != -1; ) {
            total += n;
        }
        return total;
    }

    private static void writePattern(OutputStream out, long start, long count, byte[] buffer) throws IOException {
        for (long done = 0; done < count; ) {
            int n = (int) Math.min(buffer.length, count - done);
            for (int j = 0; j < n; j++) {
                buffer[j] = patternByte(start + done + j);
            }
            out.write(buffer, 0, n);
            done += n;
        }
    }

    /** Decoded name/value pairs in order; a name without '=' gets the empty value. */
    private static List<String[]> parseQuery(String rawQuery) {
        if (rawQuery == null) {
            return List.of();
        }
        return Arrays.stream(rawQuery.split("&"))
                .filter(part -> !part.isEmpty())
                .map(part -> part.split("=", 2))
                .map(kv -> new String[] {decode(kv[0]), kv.length == 2 ? decode(kv[1]) : ""})
                .toList();
    }

    private static String decode(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    private static String first(List<String[]> query, String name) {
        return query.stream().filter(pair -> pair[0].equals(name)).map(pair -> pair[1]).findFirst().orElse(null);
    }

    /** A non-negative integer parameter; NumberFormatException (a 400) when malformed. */
    private static long param(List<String[]> query, String name, long defaultValue) {
        String value = first(query, name);
        if (value == null) {
            return defaultValue;
        }
        long parsed = Long.parseLong(value);
        if (parsed < 0) {
            throw new IllegalArgumentException(name + ": " + parsed + " (expected: >= 0)");
        }
        return parsed;
    }

    /**
     * A JSON string literal, or null. Every char outside printable ASCII becomes a JSON unicode
     * escape, so the output is ASCII and a header value, which the JDK decodes as ISO-8859-1,
     * still shows one char per byte received.
     */
    private static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20 || c > 0x7e) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger counter = new AtomicInteger();
        return task -> {
            Thread thread = new Thread(task, prefix + counter.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    /**
     * This backend's entry in a registry in Redis, kept alive by a heartbeat: a sorted set {@code
     * key} whose member {@code host:port} is scored by the epoch millisecond its registration
     * expires. Every {@value #HEARTBEAT_MS} ms: {@code ZADD key <now + TTL_MS> member}; on close:
     * {@code ZREM key member}. Plain RESP over a socket opened for each command, so this file needs
     * no Redis client and a Redis that restarts is written to again at the next beat. A beat that
     * fails is logged (fine) and tried again at the next one.
     */
    public static final class Registration implements AutoCloseable {
        public static final long HEARTBEAT_MS = 1000;
        public static final long TTL_MS = 3000;
        private final String host;
        private final int redisPort;
        private final String password;
        private final String key;
        private final String member;
        private final java.util.concurrent.ScheduledExecutorService timer;
        private volatile boolean closed;

        private Registration(String host, int redisPort, String password, String key, String member) {
            this.host = host;
            this.redisPort = redisPort;
            this.password = password;
            this.key = key;
            this.member = member;
            this.timer = Executors.newSingleThreadScheduledExecutor(daemonThreads("test-backend-register-"));
        }

        /** Starts beating at once; {@code redisUrl}: {@code redis://[:password@]host[:port]}. */
        public static Registration start(String redisUrl, String key, String member) {
            java.net.URI uri = java.net.URI.create(redisUrl);
            if (!"redis".equals(uri.getScheme()) || uri.getHost() == null) {
                throw new IllegalArgumentException("expected redis://host:port, got " + redisUrl);
            }
            String info = uri.getUserInfo();
            String password = info == null ? null : info.substring(info.indexOf(':') + 1);
            Registration r = new Registration(uri.getHost(), uri.getPort() < 0 ? 6379 : uri.getPort(),
                    password == null || password.isEmpty() ? null : password, key, member);
            r.timer.scheduleWithFixedDelay(r::beat, 0, HEARTBEAT_MS, TimeUnit.MILLISECONDS);
            return r;
        }

        public String member() {
            return member;
        }

        private void beat() {
            try {
                command("ZADD", key, Long.toString(System.currentTimeMillis() + TTL_MS), member);
            } catch (IOException e) {
                LOG.log(Level.FINE, "registration of " + member + " in " + key + " failed", e);
            }
        }

        /**
         * Stops the heartbeat without removing the entry, as a backend that crashed: the entry
         * expires {@value #TTL_MS} ms after the last beat.
         */
        public void stopHeartbeat() {
            closed = true;
            timer.shutdownNow();
            try {
                timer.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /** Stops the heartbeat and removes the entry ({@code ZREM}). Idempotent. */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            stopHeartbeat();
            try {
                command("ZREM", key, member);
            } catch (IOException e) {
                LOG.log(Level.FINE, "deregistration of " + member + " from " + key + " failed", e);
            }
        }

        /** Sends one command (after AUTH when there is a password) and reads an integer or simple reply. */
        private void command(String... args) throws IOException {
            try (java.net.Socket s = new java.net.Socket()) {
                s.connect(new InetSocketAddress(host, redisPort), 1000);
                s.setSoTimeout(1000);
                OutputStream out = s.getOutputStream();
                InputStream in = s.getInputStream();
                if (password != null) {
                    out.write(resp("AUTH", password));
                    reply(in);
                }
                out.write(resp(args));
                out.flush();
                reply(in);
            }
        }

        /** A RESP array of bulk strings: {@code *N\r\n$len\r\narg\r\n...}. */
        public static byte[] resp(String... args) {
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            bytes.writeBytes(("*" + args.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
            for (String arg : args) {
                byte[] a = arg.getBytes(StandardCharsets.UTF_8);
                bytes.writeBytes(("$" + a.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
                bytes.writeBytes(a);
                bytes.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
            }
            return bytes.toByteArray();
        }

        /** Reads one line of reply; an error reply ({@code -ERR ...}) is an IOException. */
        private static String reply(InputStream in) throws IOException {
            StringBuilder line = new StringBuilder();
            for (int b = in.read(); b != '\n'; b = in.read()) {
                if (b < 0) {
                    throw new IOException("Redis closed the connection");
                }
                line.append((char) b);
            }
            if (line.length() > 0 && line.charAt(0) == '-') {
                throw new IOException("Redis: " + line.toString().trim());
            }
            return line.toString().trim();
        }
    }

    /**
     * {@code java TestBackend.java <port> [id] [--register redis://host:port key [--advertise host]]}:
     * serves on all interfaces until killed; with {@code --register}, keeps itself in the registry
     * {@code key} as {@code host:port} ({@code 127.0.0.1} unless {@code --advertise} says otherwise)
     * and removes itself when stopped (SIGTERM, Ctrl-C).
     */
    public static void main(String[] args) throws IOException, InterruptedException {
        List<String> rest = new java.util.ArrayList<>(List.of(args));
        String redisUrl = null;
        String key = null;
        String advertise = "127.0.0.1";
        int at = rest.indexOf("--register");
        if (at >= 0) {
            if (at + 2 >= rest.size()) {
                usage();
            }
            redisUrl = rest.get(at + 1);
            key = rest.get(at + 2);
            rest.subList(at, at + 3).clear();
        }
        int adv = rest.indexOf("--advertise");
        if (adv >= 0) {
            if (adv + 1 >= rest.size() || redisUrl == null) {
                usage();
            }
            advertise = rest.get(adv + 1);
            rest.subList(adv, adv + 2).clear();
        }
        if (rest.size() < 1 || rest.size() > 2 || !rest.get(0).matches("[0-9]{1,5}")
                || Integer.parseInt(rest.get(0)) > 65535) {
            usage();
        }
        int port = Integer.parseInt(rest.get(0));
        String id = rest.size() > 1 ? rest.get(1) : "backend-" + port;
        TestBackend backend = start(id, port);
        Runtime.getRuntime().addShutdownHook(new Thread(backend::close, "test-backend-shutdown"));
        System.out.println("test backend " + id + " listening on " + backend.port());
        if (redisUrl != null) {
            String member = (advertise.indexOf(':') >= 0 ? "[" + advertise + "]" : advertise) + ":" + backend.port();
            backend.register(redisUrl, key, member);
            System.out.println("registered as " + member + " in " + key + " at " + redisUrl);
        }
        new CountDownLatch(1).await();
    }

    private static void usage() {
        System.err.println("usage: java TestBackend.java <port> [id] [--register redis://host:port key [--advertise host]]");
        System.exit(2);
    }
}
