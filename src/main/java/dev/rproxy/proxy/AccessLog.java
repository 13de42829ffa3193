package dev.rproxy.proxy;

import dev.rproxy.config.AccessLogConfig;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.internal.PlatformDependent;
import io.netty.util.internal.ThreadExecutorMap;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Queue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where each exchange's line goes, in which format.
 *
 * <p>The {@code default} format to stdout goes through the Logback logger {@code dev.rproxy.access}
 * as it always has (an asynchronous appender; a logback.xml may redirect or silence it). Every
 * other case, {@code combined} and {@code json} lines or any format to a file, is written the way
 * nginx's {@code access_log ... buffer=} writes: the event loop that ends an exchange formats its
 * line at once, as bytes, into a buffer of its own of {@value #CHUNK} bytes, while the exchange's
 * strings are still in its cache and with nothing per line handed between threads. A full buffer,
 * or one whose first line is {@value #BATCH_MS} ms old, goes to the writer thread through a queue
 * of at most {@value #MAX_QUEUED} buffers, and the loop goes on with an empty one; the writer
 * writes each buffer with one call. When the disk cannot keep up the queue fills, and a buffer that
 * finds it full is dropped and its lines counted ({@link #dropped}): an event loop never waits for
 * a disk. {@link #reopen} has the writer close and reopen the file, for rotation (SIGUSR1: move the
 * file away, signal, and the next lines go to a new file of the old name).
 */
public final class AccessLog implements AutoCloseable {
    private static final Logger logback = LoggerFactory.getLogger("dev.rproxy.access");
    private static final Logger log = LoggerFactory.getLogger(AccessLog.class);
    private static final DateTimeFormatter COMMON_TIME =
            DateTimeFormatter.ofPattern("dd/MMM/yyyy:HH:mm:ss Z", Locale.ROOT).withZone(ZoneOffset.UTC);
    /** Bytes of one loop's buffer, and of each write. */
    static final int CHUNK = 256 * 1024;
    /** Buffers waiting for the writer, at most: 4 MiB of lines. */
    static final int MAX_QUEUED = 16;
    /** How long a line waits in its loop's buffer at most before the buffer goes to the writer. */
    static final long BATCH_MS = 100;
    private static final char[] HEX = "0123456789ABCDEF".toCharArray();
    /** Bytes a JSON line takes besides its strings (names, punctuation, time, numbers), with room to spare. */
    private static final int JSON_FIXED = 512;

    private final String format;
    private final boolean json;
    private final boolean combined;
    private final Writer writer;
    /** Each event loop's buffer; only that loop touches it. */
    private final FastThreadLocal<LineBuffer> buffers = new FastThreadLocal<>() {
        @Override
        protected LineBuffer initialValue() {
            LineBuffer buffer = new LineBuffer(ThreadExecutorMap.currentExecutor());
            loops.add(buffer);
            return buffer;
        }
    };
    private final List<LineBuffer> loops = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    /** What one exchange's line says; times in ms, -1 where there is nothing to say. */
    public record Entry(long timeMillis, String requestId, String client, String method, String target,
                        String protocol, int status, long bytesIn, long bytesOut, String upstream, String backend,
                        int attempts, long durationMs, long upstreamConnectMs, long upstreamFirstByteMs,
                        String referer, String userAgent) {}

    private AccessLog(String format, Writer writer) {
        this.format = format;
        this.json = format.equals(AccessLogConfig.JSON);
        this.combined = format.equals(AccessLogConfig.COMBINED);
        this.writer = writer;
    }

    /**
     * The access log {@code config} asks for, or {@code null} when it is off; lines it drops are
     * added to {@code dropped} (one count across reloads).
     */
    public static AccessLog open(AccessLogConfig config, AtomicLong dropped) {
        if (!config.enabled()) {
            return null;
        }
        if (config.file() == null && config.format().equals(AccessLogConfig.DEFAULT_FORMAT)) {
            return new AccessLog(config.format(), null);
        }
        Writer writer = new Writer(config.file(), dropped);
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
        return json;
    }

    /** Whether lines need the request's {@code Referer} and {@code User-Agent} ({@code combined}). */
    boolean wantsAgent() {
        return combined;
    }

    /**
     * Writes the line of {@code e}: into this event loop's buffer (any other thread: into a buffer
     * of its own, queued at once).
     */
    void log(Entry e) {
        if (writer == null) {
            logback.info(defaultLine(e));
            return;
        }
        if (closed) {
            writer.dropped.incrementAndGet(); // an exchange that outlived its log (a reload changed it)
            return;
        }
        if (!(ThreadExecutorMap.currentExecutor() instanceof EventLoop)) {
            LineBuffer once = new LineBuffer(null);
            once.append(e);
            writer.send(once.chunk);
            return;
        }
        LineBuffer buffer = buffers.get();
        buffer.append(e);
        if (closed) {
            buffer.last(); // this loop's first line raced close(), which did not see its buffer
        }
    }

    /**
     * Appends the line of {@code e} in {@code format}, {@code default} or {@code combined}, to
     * {@code out} ({@code json} lines are written as bytes, {@link LineBuffer#jsonLine}).
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
     * Times as lines write them, the part down to the second formatted once per second: a loop
     * writes thousands of lines a second, mostly within the same one.
     */
    static final class Times {
        private long isoSecond = Long.MIN_VALUE;
        private String isoPrefix;
        private byte[] isoPrefixBytes;
        private long commonSecond = Long.MIN_VALUE;
        private String common;

        /** {@code 2026-12-07T13:20:01.123Z}: ISO 8601 in UTC, always with milliseconds. */
        void iso(StringBuilder out, long millis) {
            isoPrefix(millis);
            int ms = (int) Math.floorMod(millis, 1000);
            out.append(isoPrefix).append((char) ('0' + ms / 100)).append((char) ('0' + ms / 10 % 10))
                    .append((char) ('0' + ms % 10)).append('Z');
        }

        /** {@code 2026-12-07T13:20:01.}: the ISO time of {@code millis} down to the second and the dot, as ASCII. */
        byte[] isoPrefix(long millis) {
            long second = Math.floorDiv(millis, 1000);
            if (second != isoSecond) {
                isoSecond = second;
                String full = Instant.ofEpochSecond(second).toString(); // ...T13:20:01Z
                isoPrefix = full.substring(0, full.length() - 1) + ".";
                isoPrefixBytes = isoPrefix.getBytes(StandardCharsets.US_ASCII);
            }
            return isoPrefixBytes;
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
            LockSupport.unpark(writer.thread);
        }
    }

    /**
     * Writes what the loops hold and what is queued, and stops the writer (bounded). Lines of
     * exchanges that end later are dropped and counted.
     */
    @Override
    public void close() {
        if (writer == null) {
            return;
        }
        closed = true;
        for (LineBuffer buffer : loops) {
            if (buffer.loop.inEventLoop()) {
                buffer.last();
            } else if (!buffer.loop.isShuttingDown()) {
                try {
                    buffer.loop.submit(buffer::last).get(1, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (ExecutionException | TimeoutException | RejectedExecutionException e) {
                    log.warn("access log: lines of {} not written: {}", buffer.loop, e.toString());
                }
            }
        }
        writer.closed = true;
        LockSupport.unpark(writer.thread);
        try {
            writer.thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Bytes of lines, and how many lines they are. */
    private static final class Chunk {
        final byte[] bytes;
        int length;
        int lines;

        Chunk(int size) {
            bytes = new byte[size];
        }
    }

    /**
     * One event loop's lines (or, off the loops, one line's): formatted into {@link #chunk}, which
     * goes to the writer when it is full or {@value #BATCH_MS} ms after its first line. Touched by
     * its loop only.
     */
    private final class LineBuffer implements Runnable {
        /** {@code null} for a buffer used once, off the event loops. */
        final EventExecutor loop;
        private Chunk chunk;
        private final Times times = new Times();
        /** A {@code default} or {@code combined} line, before it is encoded. */
        private final StringBuilder text = new StringBuilder(256);
        private boolean flushScheduled;
        /** Where the line being written is; {@link #chunk}'s length once it is complete. */
        private int at;

        LineBuffer(EventExecutor loop) {
            this.loop = loop;
            this.chunk = loop == null ? new Chunk(0) : writer.fresh(); // once: as large as its line
        }

        void append(Entry e) {
            if (json) {
                reserve(JSON_FIXED + 6 * (length(e.requestId()) + length(e.client()) + length(e.method())
                        + length(e.target()) + length(e.protocol()) + length(e.upstream()) + length(e.backend())));
                jsonLine(e);
            } else {
                text.setLength(0);
                AccessLog.append(text, format, e, times);
                text.append('\n');
                reserve(3 * text.length()); // UTF-8: three bytes a char at most (a pair of surrogates: four)
                encode(text);
            }
            chunk.length = at;
            chunk.lines++;
            if (!flushScheduled && loop != null) {
                flushScheduled = true;
                loop.schedule(this, BATCH_MS, TimeUnit.MILLISECONDS);
            }
        }

        /** The flush timer: the lines of the last {@value #BATCH_MS} ms go to the writer. */
        @Override
        public void run() {
            flushScheduled = false;
            if (chunk.length > 0) {
                handOff();
            }
        }

        /** At close: what this loop holds goes to the writer, and the loop lets go of the buffer. */
        void last() {
            if (chunk.length > 0) {
                handOff();
            }
            buffers.remove();
        }

        void handOff() {
            chunk = writer.take(chunk);
            at = 0;
        }

        /** Makes room for a line of at most {@code n} bytes: a larger one gets a buffer of its own. */
        private void reserve(int n) {
            byte[] b = chunk.bytes;
            if (at + n <= b.length) {
                return;
            }
            if (at > 0) {
                handOff();
            }
            if (n > chunk.bytes.length) {
                chunk = new Chunk(n); // handed off with the next line or the timer; not reused
            }
        }

        private static int length(String s) {
            return s == null ? 0 : s.length();
        }

        /**
         * {@code e} as a JSON line: one object with exactly the fields of {@link Entry} but the
         * referer and user agent, strings escaped as RFC 8259 section 7 requires, written as bytes
         * straight into the buffer in one pass, whose room {@link #reserve} made.
         */
        private void jsonLine(Entry e) {
            long millis = e.timeMillis();
            put(J_TIME);
            put(times.isoPrefix(millis));
            int ms = (int) Math.floorMod(millis, 1000);
            byte[] b = chunk.bytes;
            b[at++] = (byte) ('0' + ms / 100);
            b[at++] = (byte) ('0' + ms / 10 % 10);
            b[at++] = (byte) ('0' + ms % 10);
            b[at++] = 'Z';
            b[at++] = '"';
            put(J_REQUEST_ID);
            string(e.requestId());
            put(J_CLIENT);
            string(e.client());
            put(J_METHOD);
            string(e.method());
            put(J_TARGET);
            string(e.target());
            put(J_PROTOCOL);
            string(e.protocol());
            put(J_STATUS);
            number(e.status());
            put(J_BYTES_IN);
            number(e.bytesIn());
            put(J_BYTES_OUT);
            number(e.bytesOut());
            put(J_UPSTREAM);
            string(e.upstream());
            put(J_BACKEND);
            string(e.backend());
            put(J_ATTEMPTS);
            number(e.attempts());
            put(J_DURATION);
            number(e.durationMs());
            put(J_CONNECT);
            msOrNull(e.upstreamConnectMs());
            put(J_FIRST_BYTE);
            msOrNull(e.upstreamFirstByteMs());
            put(J_END);
        }

        private void put(byte[] ascii) {
            System.arraycopy(ascii, 0, chunk.bytes, at, ascii.length);
            at += ascii.length;
        }

        /** {@code value} as a JSON string (escaped and encoded as it is copied), or null. */
        private void string(String value) {
            if (value == null) {
                put(J_NULL);
                return;
            }
            byte[] b = chunk.bytes;
            int i = at;
            b[i++] = '"';
            int n = value.length();
            for (int k = 0; k < n; k++) {
                char c = value.charAt(k);
                if (c >= 0x20 && c < 0x7f) {
                    if (c == '"' || c == '\\') {
                        b[i++] = '\\';
                    }
                    b[i++] = (byte) c;
                } else if (c < 0x20 || c == 0x7f) {
                    b[i++] = '\\';
                    b[i++] = 'u';
                    b[i++] = '0';
                    b[i++] = '0';
                    b[i++] = (byte) HEX[c >> 4];
                    b[i++] = (byte) HEX[c & 0xf];
                } else {
                    at = i;
                    k = utf8(value, k, n);
                    i = at;
                }
            }
            b[i++] = '"';
            at = i;
        }

        private void msOrNull(long ms) {
            if (ms < 0) {
                put(J_NULL);
            } else {
                number(ms);
            }
        }

        /** {@code v} in decimal, without a string. */
        private void number(long v) {
            byte[] b = chunk.bytes;
            if (v < 0) {
                b[at++] = '-';
                v = -v; // the fields are never Long.MIN_VALUE
            }
            int start = at;
            do {
                b[at++] = (byte) ('0' + v % 10);
                v /= 10;
            } while (v > 0);
            for (int i = start, j = at - 1; i < j; i++, j--) {
                byte t = b[i];
                b[i] = b[j];
                b[j] = t;
            }
        }

        /** UTF-8 of {@code chars}; the room is made. */
        private void encode(CharSequence chars) {
            int n = chars.length();
            for (int i = 0; i < n; i++) {
                char c = chars.charAt(i);
                if (c < 0x80) {
                    chunk.bytes[at++] = (byte) c;
                } else {
                    i = utf8(chars, i, n);
                }
            }
        }

        /**
         * The character at {@code i} of {@code chars}, not ASCII, in UTF-8 (a surrogate pair as one
         * code point, a lone surrogate as {@code ?}, which has no UTF-8 form); returns the index of
         * the last character used.
         */
        private int utf8(CharSequence chars, int i, int n) {
            byte[] b = chunk.bytes;
            char c = chars.charAt(i);
            if (c < 0x800) {
                b[at++] = (byte) (0xc0 | c >> 6);
                b[at++] = (byte) (0x80 | c & 0x3f);
            } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(chars.charAt(i + 1))) {
                int cp = Character.toCodePoint(c, chars.charAt(++i));
                b[at++] = (byte) (0xf0 | cp >> 18);
                b[at++] = (byte) (0x80 | cp >> 12 & 0x3f);
                b[at++] = (byte) (0x80 | cp >> 6 & 0x3f);
                b[at++] = (byte) (0x80 | cp & 0x3f);
            } else if (Character.isSurrogate(c)) {
                b[at++] = '?';
            } else {
                b[at++] = (byte) (0xe0 | c >> 12);
                b[at++] = (byte) (0x80 | c >> 6 & 0x3f);
                b[at++] = (byte) (0x80 | c & 0x3f);
            }
            return i;
        }
    }

    private static final byte[] J_TIME = ascii("{\"time\":\"");
    private static final byte[] J_REQUEST_ID = ascii(",\"requestId\":");
    private static final byte[] J_CLIENT = ascii(",\"client\":");
    private static final byte[] J_METHOD = ascii(",\"method\":");
    private static final byte[] J_TARGET = ascii(",\"target\":");
    private static final byte[] J_PROTOCOL = ascii(",\"protocol\":");
    private static final byte[] J_STATUS = ascii(",\"status\":");
    private static final byte[] J_BYTES_IN = ascii(",\"bytesIn\":");
    private static final byte[] J_BYTES_OUT = ascii(",\"bytesOut\":");
    private static final byte[] J_UPSTREAM = ascii(",\"upstream\":");
    private static final byte[] J_BACKEND = ascii(",\"backend\":");
    private static final byte[] J_ATTEMPTS = ascii(",\"attempts\":");
    private static final byte[] J_DURATION = ascii(",\"durationMs\":");
    private static final byte[] J_CONNECT = ascii(",\"upstreamConnectMs\":");
    private static final byte[] J_FIRST_BYTE = ascii(",\"upstreamFirstByteMs\":");
    private static final byte[] J_END = ascii("}\n");
    private static final byte[] J_NULL = ascii("null");

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * The buffers the loops hand over, and the thread that writes them; the stream is touched by
     * that thread only. Written buffers come back to the loops through {@link #free}.
     */
    private static final class Writer implements Runnable {
        private final Path file;
        private final AtomicLong dropped;
        private final Queue<Chunk> full = PlatformDependent.newFixedMpscQueue(MAX_QUEUED);
        private final Queue<Chunk> free = PlatformDependent.newFixedMpmcQueue(MAX_QUEUED);
        private volatile boolean reopen;
        private volatile boolean closed;
        /** Set once the writer takes nothing more from {@link #full} but its last look under the lock. */
        private volatile boolean stopped;
        private Thread thread;
        private OutputStream out;

        Writer(Path file, AtomicLong dropped) {
            this.file = file;
            this.dropped = dropped;
        }

        /** An empty buffer of {@link #CHUNK} bytes: a written one, or a new one. */
        Chunk fresh() {
            Chunk c = free.poll();
            return c != null ? c : new Chunk(CHUNK);
        }

        /** {@code c} is queued for writing (or dropped and counted when the queue is full); returns the loop's next buffer. */
        Chunk take(Chunk c) {
            if (!send(c) && c.bytes.length == CHUNK) {
                c.length = 0;
                c.lines = 0;
                return c;
            }
            return fresh();
        }

        /**
         * Queues {@code c} for writing; returns false when it was dropped (and counted) instead: the
         * queue was full. After the writer has stopped, what is queued is counted as dropped.
         */
        boolean send(Chunk c) {
            if (!full.offer(c)) {
                dropped.addAndGet(c.lines);
                return false;
            }
            if (stopped) {
                // The writer's last look at the queue may have come before this chunk: whoever
                // looks after it has stopped does so under the queue's lock, one at a time.
                synchronized (full) {
                    for (Chunk late; (late = full.poll()) != null; ) {
                        dropped.addAndGet(late.lines);
                    }
                }
            } else {
                LockSupport.unpark(thread);
            }
            return true;
        }

        @Override
        public void run() {
            try {
                while (true) {
                    if (reopen) {
                        reopen = false;
                        closeFile();
                    }
                    Chunk c = full.poll();
                    if (c != null) {
                        write(c);
                    } else if (closed) {
                        break;
                    } else {
                        LockSupport.parkNanos(this, TimeUnit.SECONDS.toNanos(1)); // woken by take, reopen and close
                    }
                }
            } finally {
                stopped = true; // from here on a loop that queues a chunk empties the queue itself
                List<Chunk> last = new ArrayList<>();
                synchronized (full) { // taken out under the lock, written outside it
                    for (Chunk c; (c = full.poll()) != null; ) {
                        last.add(c);
                    }
                }
                for (Chunk c : last) {
                    write(c);
                }
                closeFile();
            }
        }

        private void write(Chunk c) {
            try {
                if (out == null) {
                    // A FileOutputStream, not Files.newOutputStream: its write goes straight to the
                    // native call, where a channel's runs through layers of Java that a thread
                    // writing a few times a second runs interpreted.
                    out = file == null ? new FileOutputStream(FileDescriptor.out) : new FileOutputStream(file.toFile(), true);
                }
                out.write(c.bytes, 0, c.length);
            } catch (IOException e) {
                log.warn("access log {}: {}", file == null ? "stdout" : file, e.toString());
                dropped.addAndGet(c.lines);
                closeFile(); // opened again for the next lines; these are lost
            }
            if (c.bytes.length == CHUNK) {
                c.length = 0;
                c.lines = 0;
                free.offer(c);
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
