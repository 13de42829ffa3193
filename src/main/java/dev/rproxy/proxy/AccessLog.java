package dev.rproxy.proxy;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.rproxy.config.AccessLogConfig;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where each exchange's line goes, in which format.
 *
 * <p>The {@code default} format to stdout goes through the Logback logger {@code dev.rproxy.access}
 * as it always has (an asynchronous appender; a logback.xml may redirect or silence it). Every
 * other case, {@code combined} and {@code json} lines or any format to a file, goes through a
 * writer of its own: lines are queued (never more than {@value #QUEUE} waiting; one more is dropped
 * and counted, so an event loop never waits for a disk) and one thread writes them, flushing when
 * the queue is empty. {@link #reopen} has that thread close and reopen the file, for rotation
 * (SIGUSR1: move the file away, signal, and the next lines go to a new file of the old name).
 */
public final class AccessLog implements AutoCloseable {
    private static final Logger logback = LoggerFactory.getLogger("dev.rproxy.access");
    private static final Logger log = LoggerFactory.getLogger(AccessLog.class);
    private static final JsonFactory JSON = new JsonFactory();
    private static final DateTimeFormatter COMMON_TIME =
            DateTimeFormatter.ofPattern("dd/MMM/yyyy:HH:mm:ss Z", Locale.ROOT).withZone(ZoneOffset.UTC);
    static final int QUEUE = 16384;

    private final String format;
    private final LineWriter writer;

    /** What one exchange's line says; times in ms, -1 where there is nothing to say. */
    public record Entry(long timeMillis, String requestId, String client, String method, String target,
                        String protocol, int status, long bytesIn, long bytesOut, String upstream, String backend,
                        int attempts, long durationMs, long upstreamConnectMs, long upstreamFirstByteMs,
                        String referer, String userAgent) {}

    private AccessLog(String format, LineWriter writer) {
        this.format = format;
        this.writer = writer;
    }

    /** The access log {@code config} asks for, or {@code null} when it is off. */
    public static AccessLog open(AccessLogConfig config) {
        if (!config.enabled()) {
            return null;
        }
        if (config.file() == null && config.format().equals(AccessLogConfig.DEFAULT_FORMAT)) {
            return new AccessLog(config.format(), null);
        }
        LineWriter writer = new LineWriter(config.file());
        Thread thread = new Thread(writer, "access-log");
        thread.setDaemon(true);
        writer.thread = thread;
        thread.start();
        return new AccessLog(config.format(), writer);
    }

    /** Whether a line would be written at all (Logback's level may say no). */
    boolean enabled() {
        return writer != null || logback.isInfoEnabled();
    }

    /** Whether lines need the fields only the {@code json} format has (request id, timings). */
    boolean detailed() {
        return format.equals(AccessLogConfig.JSON);
    }

    /** Whether lines need the request's {@code Referer} and {@code User-Agent} ({@code combined}). */
    boolean wantsAgent() {
        return format.equals(AccessLogConfig.COMBINED);
    }

    void log(Entry e) {
        if (writer == null) {
            logback.info(defaultLine(e));
            return;
        }
        String line = switch (format) {
            case AccessLogConfig.JSON -> json(e);
            case AccessLogConfig.COMBINED -> combined(e);
            default -> Instant.ofEpochMilli(e.timeMillis()) + " access " + defaultLine(e);
        };
        writer.offer(line);
    }

    /** {@code client "METHOD target" status bytesIn bytesOut backend durationMs}. */
    static String defaultLine(Entry e) {
        return e.client() + " \"" + e.method() + " " + e.target() + "\" " + e.status() + " " + e.bytesIn() + " "
                + e.bytesOut() + " " + e.backend() + " " + e.durationMs() + "ms";
    }

    /**
     * The combined log format of Apache and nginx: {@code client - - [time] "request" status bytes
     * "referer" "user-agent"}, a double quote or backslash in a field written as {@code \x22} or
     * {@code \x5C} (as nginx does), so the line always parses.
     */
    static String combined(Entry e) {
        return e.client() + " - - [" + COMMON_TIME.format(Instant.ofEpochMilli(e.timeMillis())) + "] \""
                + escape(e.method()) + " " + escape(e.target()) + " " + e.protocol() + "\" " + e.status() + " "
                + e.bytesOut() + " \"" + (e.referer() == null ? "-" : escape(e.referer())) + "\" \""
                + (e.userAgent() == null ? "-" : escape(e.userAgent())) + "\"";
    }

    private static String escape(String s) {
        StringBuilder out = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f) {
                if (out == null) {
                    out = new StringBuilder(s.length() + 8).append(s, 0, i);
                }
                out.append(String.format("\\x%02X", (int) c));
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? s : out.toString();
    }

    /** One JSON object with exactly the fields of {@link Entry} but the referer and user agent. */
    static String json(Entry e) {
        StringWriter out = new StringWriter(256);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            json.writeStartObject();
            json.writeStringField("time", Instant.ofEpochMilli(e.timeMillis()).toString());
            json.writeStringField("requestId", e.requestId());
            json.writeStringField("client", e.client());
            json.writeStringField("method", e.method());
            json.writeStringField("target", e.target());
            json.writeStringField("protocol", e.protocol());
            json.writeNumberField("status", e.status());
            json.writeNumberField("bytesIn", e.bytesIn());
            json.writeNumberField("bytesOut", e.bytesOut());
            json.writeStringField("upstream", e.upstream());
            json.writeStringField("backend", e.backend());
            json.writeNumberField("attempts", e.attempts());
            json.writeNumberField("durationMs", e.durationMs());
            writeMs(json, "upstreamConnectMs", e.upstreamConnectMs());
            writeMs(json, "upstreamFirstByteMs", e.upstreamFirstByteMs());
            json.writeEndObject();
        } catch (IOException ex) {
            throw new UncheckedIOException(ex); // not from a StringWriter
        }
        return out.toString();
    }

    private static void writeMs(JsonGenerator json, String name, long ms) throws IOException {
        if (ms < 0) {
            json.writeNullField(name);
        } else {
            json.writeNumberField(name, ms);
        }
    }

    /** Has the file closed and opened again (after it was moved away); nothing for stdout. */
    public void reopen() {
        if (writer != null) {
            writer.reopen = true;
        }
    }

    /** Lines dropped because the queue was full. */
    public long dropped() {
        return writer == null ? 0 : writer.dropped.get();
    }

    /** Writes what is queued and stops the writer (bounded). */
    @Override
    public void close() {
        if (writer != null) {
            writer.closed = true;
            try {
                writer.thread.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The queue and its thread; the stream is touched by that thread only. */
    private static final class LineWriter implements Runnable {
        private final Path file;
        private final ArrayBlockingQueue<String> queue = new ArrayBlockingQueue<>(QUEUE);
        private final AtomicLong dropped = new AtomicLong();
        private volatile boolean reopen;
        private volatile boolean closed;
        private Thread thread;
        private OutputStream out;

        LineWriter(Path file) {
            this.file = file;
        }

        void offer(String line) {
            if (!queue.offer(line)) {
                dropped.incrementAndGet();
            }
        }

        @Override
        public void run() {
            try {
                while (true) {
                    String line = queue.poll(100, TimeUnit.MILLISECONDS);
                    if (reopen) {
                        reopen = false;
                        closeFile();
                    }
                    if (line == null) {
                        if (closed) {
                            break;
                        }
                        continue;
                    }
                    do {
                        write(line);
                    } while ((line = queue.poll()) != null);
                    flush();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                flush();
                closeFile();
            }
        }

        private void write(String line) {
            try {
                if (out == null) {
                    out = file == null ? new FileOutputStream(FileDescriptor.out)
                            : Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                    out = new BufferedOutputStream(out, 64 * 1024);
                }
                out.write(line.getBytes(StandardCharsets.UTF_8));
                out.write('\n');
            } catch (IOException e) {
                log.warn("access log {}: {}", file == null ? "stdout" : file, e.toString());
                closeFile(); // opened again for the next line
            }
        }

        private void flush() {
            try {
                if (out != null) {
                    out.flush();
                }
            } catch (IOException e) {
                log.warn("access log {}: {}", file == null ? "stdout" : file, e.toString());
            }
        }

        private void closeFile() {
            if (out != null && file != null) {
                try {
                    out.close();
                } catch (IOException e) {
                    log.warn("access log {}: {}", file, e.toString());
                }
                out = null;
            }
        }
    }
}
