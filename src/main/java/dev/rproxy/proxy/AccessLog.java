package dev.rproxy.proxy;

import dev.rproxy.config.AccessLogConfig;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import io.netty.util.internal.PlatformDependent;
import java.util.Queue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where each exchange's line goes, in which format.
 *
 * <p>The {@code default} format to stdout goes through the Logback logger {@code dev.rproxy.access}
 * as it always has (an asynchronous appender; a logback.xml may redirect or silence it). Every
 * other case, {@code combined} and {@code json} lines or any format to a file, goes through a
 * writer of its own: an event loop only queues the exchange's {@link Entry} (a lock-free queue of
 * at most {@value #QUEUE}; one more is dropped and counted, so an event loop never waits for a
 * disk, and no thread is woken per line); one thread wakes every {@value #BATCH_MS} ms, formats
 * what is queued and writes it in one go. {@link #reopen} has that thread close and reopen the
 * file, for rotation (SIGUSR1: move the file away, signal, and the next lines go to a new file of
 * the old name).
 */
public final class AccessLog implements AutoCloseable {
    private static final Logger logback = LoggerFactory.getLogger("dev.rproxy.access");
    private static final Logger log = LoggerFactory.getLogger(AccessLog.class);
    private static final DateTimeFormatter COMMON_TIME =
            DateTimeFormatter.ofPattern("dd/MMM/yyyy:HH:mm:ss Z", Locale.ROOT).withZone(ZoneOffset.UTC);
    static final int QUEUE = 16384;
    static final long BATCH_MS = 20;
    private static final char[] HEX = "0123456789ABCDEF".toCharArray();
    /** Characters of a JSON string copied at a time: six bytes each at most, well within the write buffer. */
    private static final int JSON_PIECE = 4096;

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
        LineWriter writer = new LineWriter(config.file(), config.format());
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
        writer.offer(e);
    }

    /**
     * Appends the line of {@code e} in {@code format}, {@code default} or {@code combined}, to
     * {@code out} (on the writer's thread; {@code json} lines are written as bytes, {@link
     * LineWriter#jsonLine}).
     */
    static void append(StringBuilder out, String format, Entry e, Times times) {
        switch (format) {
            case AccessLogConfig.COMBINED -> combined(out, e, times);
            default -> {
                times.iso(out, e.timeMillis());
                out.append(" access ");
                defaultLine(out, e);
            }
        }
    }

    /**
     * Times as lines write them, the part down to the second formatted once per second: the
     * writer's thread formats thousands of lines a second, mostly within the same one.
     */
    static final class Times {
        private long isoSecond = Long.MIN_VALUE;
        private String isoPrefix;
        private long commonSecond = Long.MIN_VALUE;
        private String common;

        /** {@code 2026-12-07T13:20:01.123Z}: ISO 8601 in UTC, always with milliseconds. */
        void iso(StringBuilder out, long millis) {
            isoPrefix(millis);
            int ms = (int) Math.floorMod(millis, 1000);
            out.append(isoPrefix).append((char) ('0' + ms / 100)).append((char) ('0' + ms / 10 % 10))
                    .append((char) ('0' + ms % 10)).append('Z');
        }

        /** {@code 2026-12-07T13:20:01.}: the ISO time of {@code millis} down to the second and the dot. */
        String isoPrefix(long millis) {
            long second = Math.floorDiv(millis, 1000);
            if (second != isoSecond) {
                isoSecond = second;
                String full = Instant.ofEpochSecond(second).toString(); // ...T13:20:01Z
                isoPrefix = full.substring(0, full.length() - 1) + ".";
            }
            return isoPrefix;
        }

        /** {@code 07/Dec/2026:13:20:01 +0000}, the common log format's time. */
        String common(long millis) {
            long second = Math.floorDiv(millis, 1000);
            if (second != commonSecond) {
                commonSecond = second;
                common = COMMON_TIME.format(Instant.ofEpochSecond(second));
            }
            return common;
        }
    }

    /** {@code client "METHOD target" status bytesIn bytesOut backend durationMs}. */
    static String defaultLine(Entry e) {
        StringBuilder out = new StringBuilder(128);
        defaultLine(out, e);
        return out.toString();
    }

    private static void defaultLine(StringBuilder out, Entry e) {
        out.append(e.client()).append(" \"").append(e.method()).append(' ').append(e.target()).append("\" ")
                .append(e.status()).append(' ').append(e.bytesIn()).append(' ').append(e.bytesOut()).append(' ')
                .append(e.backend()).append(' ').append(e.durationMs()).append("ms");
    }

    /**
     * The combined log format of Apache and nginx: {@code client - - [time] "request" status bytes
     * "referer" "user-agent"}, a double quote or backslash in a field written as {@code \x22} or
     * {@code \x5C} (as nginx does), so the line always parses.
     */
    static void combined(StringBuilder out, Entry e, Times times) {
        out.append(e.client()).append(" - - [").append(times.common(e.timeMillis())).append("] \"");
        escaped(out, e.method());
        out.append(' ');
        escaped(out, e.target());
        out.append(' ').append(e.protocol()).append("\" ").append(e.status()).append(' ').append(e.bytesOut())
                .append(" \"");
        escaped(out, e.referer());
        out.append("\" \"");
        escaped(out, e.userAgent());
        out.append('"');
    }

    /** {@code s} with {@code "}, {@code \\} and control characters as {@code \xHH}; {@code -} for null. */
    private static void escaped(StringBuilder out, String s) {
        if (s == null) {
            out.append('-');
            return;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f) {
                out.append("\\x").append(HEX[c >> 4]).append(HEX[c & 0xf]);
            } else {
                out.append(c);
            }
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
        private final String format;
        private final Times times = new Times();
        /** Many event loops offer, one thread polls; no one is woken per entry. */
        private final Queue<Entry> queue = PlatformDependent.newFixedMpscQueue(QUEUE);
        private final AtomicLong dropped = new AtomicLong();
        private volatile boolean reopen;
        private volatile boolean closed;
        private Thread thread;
        private OutputStream out;
        /** The line being formatted, reused: a line costs no allocation once these have grown. */
        private final StringBuilder line = new StringBuilder(512);
        /** Encoded lines not yet written; written when full and after each batch. */
        private final byte[] pending = new byte[64 * 1024];
        private int pendingBytes;

        private final boolean json;

        LineWriter(Path file, String format) {
            this.file = file;
            this.format = format;
            this.json = format.equals(AccessLogConfig.JSON);
        }

        void offer(Entry entry) {
            if (!queue.offer(entry)) {
                dropped.incrementAndGet();
            }
        }

        @Override
        public void run() {
            try {
                while (true) {
                    if (reopen) {
                        reopen = false;
                        closeFile();
                    }
                    boolean wrote = false;
                    for (Entry e; (e = queue.poll()) != null; ) {
                        if (json) {
                            jsonLine(e);
                        } else {
                            line.setLength(0);
                            AccessLog.append(line, format, e, times);
                            line.append('\n');
                            encode(line);
                        }
                        wrote = true;
                    }
                    if (wrote) {
                        flush();
                    } else if (closed) {
                        break;
                    } else {
                        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(BATCH_MS));
                    }
                }
            } finally {
                flush();
                closeFile();
            }
        }

        /**
         * {@code e} as a JSON line: one object with exactly the fields of {@link Entry} but the
         * referer and user agent, strings escaped as RFC 8259 section 7 requires, written as bytes
         * straight into {@link #pending} in one pass: each string is escaped and encoded as it is
         * copied, with no builder or string in between.
         */
        private void jsonLine(Entry e) {
            ascii("{\"time\":\"");
            encode(times.isoPrefix(e.timeMillis()));
            int ms = (int) Math.floorMod(e.timeMillis(), 1000);
            room(5);
            pending[pendingBytes++] = (byte) ('0' + ms / 100);
            pending[pendingBytes++] = (byte) ('0' + ms / 10 % 10);
            pending[pendingBytes++] = (byte) ('0' + ms % 10);
            pending[pendingBytes++] = 'Z';
            pending[pendingBytes++] = '"';
            jsonField(",\"requestId\":", e.requestId());
            jsonField(",\"client\":", e.client());
            jsonField(",\"method\":", e.method());
            jsonField(",\"target\":", e.target());
            jsonField(",\"protocol\":", e.protocol());
            ascii(",\"status\":");
            number(e.status());
            ascii(",\"bytesIn\":");
            number(e.bytesIn());
            ascii(",\"bytesOut\":");
            number(e.bytesOut());
            jsonField(",\"upstream\":", e.upstream());
            jsonField(",\"backend\":", e.backend());
            ascii(",\"attempts\":");
            number(e.attempts());
            ascii(",\"durationMs\":");
            number(e.durationMs());
            ascii(",\"upstreamConnectMs\":");
            msOrNull(e.upstreamConnectMs());
            ascii(",\"upstreamFirstByteMs\":");
            msOrNull(e.upstreamFirstByteMs());
            ascii("}\n");
        }

        /**
         * {@code name} (ASCII, as written) then {@code value} as a JSON string, or null. The value
         * is copied in pieces; room for the longest a piece can become (six bytes a character, a
         * control character's escape) is made once per piece, so the copy itself checks nothing
         * but the characters.
         */
        private void jsonField(String name, String value) {
            ascii(name);
            if (value == null) {
                ascii("null");
                return;
            }
            room(1);
            pending[pendingBytes++] = '"';
            int n = value.length();
            for (int from = 0; from < n; ) {
                int to = Math.min(n, from + JSON_PIECE);
                if (to < n && Character.isHighSurrogate(value.charAt(to - 1))) {
                    to++; // a surrogate pair stays in one piece
                }
                room(6 * (to - from));
                jsonChars(value, from, to);
                from = to;
            }
            room(1);
            pending[pendingBytes++] = '"';
        }

        /** Characters {@code from} to {@code to} of {@code value}, escaped and encoded; the room is made. */
        private void jsonChars(String value, int from, int to) {
            byte[] b = pending;
            int at = pendingBytes;
            for (int i = from; i < to; i++) {
                char c = value.charAt(i);
                if (c >= 0x20 && c < 0x7f) {
                    if (c == '"' || c == '\\') {
                        b[at++] = '\\';
                    }
                    b[at++] = (byte) c;
                } else if (c < 0x20 || c == 0x7f) {
                    b[at++] = '\\';
                    b[at++] = 'u';
                    b[at++] = '0';
                    b[at++] = '0';
                    b[at++] = (byte) HEX[c >> 4];
                    b[at++] = (byte) HEX[c & 0xf];
                } else if (c < 0x800) {
                    b[at++] = (byte) (0xc0 | c >> 6);
                    b[at++] = (byte) (0x80 | c & 0x3f);
                } else if (Character.isHighSurrogate(c) && i + 1 < to && Character.isLowSurrogate(value.charAt(i + 1))) {
                    int cp = Character.toCodePoint(c, value.charAt(++i));
                    b[at++] = (byte) (0xf0 | cp >> 18);
                    b[at++] = (byte) (0x80 | cp >> 12 & 0x3f);
                    b[at++] = (byte) (0x80 | cp >> 6 & 0x3f);
                    b[at++] = (byte) (0x80 | cp & 0x3f);
                } else if (Character.isSurrogate(c)) {
                    b[at++] = '?'; // a lone surrogate has no UTF-8 form
                } else {
                    b[at++] = (byte) (0xe0 | c >> 12);
                    b[at++] = (byte) (0x80 | c >> 6 & 0x3f);
                    b[at++] = (byte) (0x80 | c & 0x3f);
                }
            }
            pendingBytes = at;
        }

        private void msOrNull(long ms) {
            if (ms < 0) {
                ascii("null");
            } else {
                number(ms);
            }
        }

        /** {@code s}, whose characters are all ASCII, as bytes. */
        private void ascii(String s) {
            int n = s.length();
            room(n);
            for (int i = 0; i < n; i++) {
                pending[pendingBytes++] = (byte) s.charAt(i);
            }
        }

        /** {@code v} in decimal, without a string. */
        private void number(long v) {
            room(20);
            if (v < 0) {
                pending[pendingBytes++] = '-';
                v = -v; // the fields are never Long.MIN_VALUE
            }
            int start = pendingBytes;
            do {
                pending[pendingBytes++] = (byte) ('0' + v % 10);
                v /= 10;
            } while (v > 0);
            for (int i = start, j = pendingBytes - 1; i < j; i++, j--) {
                byte t = pending[i];
                pending[i] = pending[j];
                pending[j] = t;
            }
        }

        /** Makes room for {@code n} more bytes (at most the buffer's size): writes out what is there when it is short. */
        private void room(int n) {
            if (pendingBytes > pending.length - n) {
                writePending();
            }
        }

        /** UTF-8 of {@code chars} into {@link #pending}, which is written out whenever it fills. */
        private void encode(CharSequence chars) {
            int n = chars.length();
            for (int i = 0; i < n; i++) {
                if (pendingBytes > pending.length - 4) {
                    writePending();
                }
                char c = chars.charAt(i);
                if (c < 0x80) {
                    pending[pendingBytes++] = (byte) c;
                } else if (c < 0x800) {
                    pending[pendingBytes++] = (byte) (0xc0 | c >> 6);
                    pending[pendingBytes++] = (byte) (0x80 | c & 0x3f);
                } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(chars.charAt(i + 1))) {
                    int cp = Character.toCodePoint(c, chars.charAt(++i));
                    pending[pendingBytes++] = (byte) (0xf0 | cp >> 18);
                    pending[pendingBytes++] = (byte) (0x80 | cp >> 12 & 0x3f);
                    pending[pendingBytes++] = (byte) (0x80 | cp >> 6 & 0x3f);
                    pending[pendingBytes++] = (byte) (0x80 | cp & 0x3f);
                } else if (Character.isSurrogate(c)) {
                    pending[pendingBytes++] = '?'; // a lone surrogate has no UTF-8 form
                } else {
                    pending[pendingBytes++] = (byte) (0xe0 | c >> 12);
                    pending[pendingBytes++] = (byte) (0x80 | c >> 6 & 0x3f);
                    pending[pendingBytes++] = (byte) (0x80 | c & 0x3f);
                }
            }
        }

        private void writePending() {
            try {
                if (out == null) {
                    out = file == null ? new FileOutputStream(FileDescriptor.out)
                            : Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                }
                out.write(pending, 0, pendingBytes);
            } catch (IOException e) {
                log.warn("access log {}: {}", file == null ? "stdout" : file, e.toString());
                closeFile(); // opened again for the next lines; these are lost
            }
            pendingBytes = 0;
        }

        private void flush() {
            if (pendingBytes > 0) {
                writePending();
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
