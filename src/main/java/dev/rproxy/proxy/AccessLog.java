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
import java.util.Arrays;
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
 * other case, {@code combined} and {@code json} lines or any format to a file, is written off the
 * event loops: the loop that ends an exchange only adds its entry to a batch of its own, which
 * goes to the writer thread when it holds {@value #BATCH} entries or its first is {@value
 * #BATCH_MS} ms old, through a queue of at most {@value #MAX_QUEUED} batches; the loop goes on
 * with an empty one, and nothing per line is handed between threads. The writer formats a batch
 * as bytes, in one pass per line, and writes about {@value #CHUNK} bytes a call. Formatting lines
 * in batches, on a thread that does nothing else, keeps its code and buffers warm: on the loop,
 * between the reads and writes of other exchanges, a JSON line took about 0.3 µs; in the writer's
 * batches about 0.2 µs (perf profiles, 64 connections). When the disk cannot keep up the
 * queue fills, and a batch that finds it full is dropped and its lines counted ({@link
 * #dropped}): an event loop never waits for a disk.
 * {@link #reopen} has the writer close and reopen the file, for rotation (SIGUSR1: move the
 * file away, signal, and the next lines go to a new file of the old name).
 */
public final class AccessLog implements AutoCloseable {
    private static final Logger logback = LoggerFactory.getLogger("dev.rproxy.access");
    private static final Logger log = LoggerFactory.getLogger(AccessLog.class);
    private static final DateTimeFormatter COMMON_TIME =
            DateTimeFormatter.ofPattern("dd/MMM/yyyy:HH:mm:ss Z", Locale.ROOT).withZone(ZoneOffset.UTC);
    /** Entries a loop hands to the writer at once, at most. */
    static final int BATCH = 512;
    /** Batches waiting for the writer, at most: 8192 lines, 4 MiB of them. */
    static final int MAX_QUEUED = 16;
    /** How long an entry waits in its loop at most before its batch goes to the writer. */
    static final long BATCH_MS = 100;
    /** Bytes of each write, about, and of the lines of one batch at most: 4 MiB queued at most. */
    static final int CHUNK = 256 * 1024;
    /** Bytes a line takes, about, besides its target, referer and user agent. */
    private static final int LINE_FIXED = 320;
    private static final char[] HEX = "0123456789ABCDEF".toCharArray();
    /** Bytes a JSON line takes besides its strings (names, punctuation, time, numbers), with room to spare. */
    private static final int JSON_FIXED = 512;

    private final boolean json;
    private final boolean combined;
    private final Writer writer;
    /** Each event loop's entries; only that loop touches them. */
    private final FastThreadLocal<LoopLines> loopLines = new FastThreadLocal<>() {
        @Override
        protected LoopLines initialValue() {
            LoopLines lines = new LoopLines(ThreadExecutorMap.currentExecutor());
            loops.add(lines);
            return lines;
        }
    };
    private final List<LoopLines> loops = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    /** What one exchange's line says; times in ms, -1 where there is nothing to say. */
    public record Entry(long timeMillis, String requestId, String client, String method, String target,
                        String protocol, int status, long bytesIn, long bytesOut, String upstream, String backend,
                        int attempts, long durationMs, long upstreamConnectMs, long upstreamFirstByteMs,
                        String referer, String userAgent) {}

    private AccessLog(String format, Writer writer) {
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
        Writer writer = new Writer(config.file(), config.format(), dropped);
        Thread thread = new Thread(writer, "access-log");
        thread.setDaemon(true);
        writer.thread = thread;
        thread.start();
        return new AccessLog(config.format(), writer);
    }

    /** A wall-clock time and the {@link System#nanoTime} read with it. */
    private record Anchor(long nanos, long millis) {}

    private static volatile Anchor anchor = new Anchor(System.nanoTime(), System.currentTimeMillis());

    /**
     * The wall-clock time, in ms since the epoch, at which {@link System#nanoTime} read {@code
     * nanoTime}: an exchange's end is timed once, for its duration and its line's time. The two
     * clocks are read together again each second (at most), so a line's time is off by no more
     * than the wall clock's own adjustment within a second, well under a millisecond.
     */
    static long wallMillis(long nanoTime) {
        Anchor a = anchor;
        long since = nanoTime - a.nanos;
        if (since >= 1_000_000_000L || since < -1_000_000_000L) {
            a = new Anchor(System.nanoTime(), System.currentTimeMillis());
            anchor = a;
            since = nanoTime - a.nanos;
        }
        return a.millis + Math.floorDiv(since, 1_000_000L);
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
     * Logs {@code e}: adds it to this event loop's batch (any other thread: queues it alone).
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
            Lines once = new Lines(1);
            once.entries[0] = e;
            once.count = 1;
            writer.send(once);
            return;
        }
        LoopLines lines = loopLines.get();
        lines.add(e);
        if (closed) {
            lines.last(); // this loop's first line raced close(), which did not see its entries
        }
    }

    /**
     * Appends the line of {@code e} in {@code format}, {@code default} or {@code combined}, to
     * {@code out} ({@code json} lines are written as bytes, {@link Formatter#jsonLine}).
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

    private static int length(String s) {
        return s == null ? 0 : s.length();
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
        for (LoopLines lines : loops) {
            if (lines.loop.inEventLoop()) {
                lines.last();
            } else if (!lines.loop.isShuttingDown()) {
                try {
                    lines.loop.submit(lines::last).get(1, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (ExecutionException | TimeoutException | RejectedExecutionException e) {
                    log.warn("access log: lines of {} not written: {}", lines.loop, e.toString());
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

    /** Entries handed to the writer at once: the first {@link #count} of {@link #entries}. */
    private static final class Lines {
        final Entry[] entries;
        int count;
        /** About how many bytes the entries' lines take; what bounds the queue's memory. */
        int bytes;

        Lines(int size) {
            entries = new Entry[size];
        }

        /** Empty again, letting go of the entries. */
        void clear() {
            Arrays.fill(entries, 0, count, null);
            count = 0;
            bytes = 0;
        }
    }

    /**
     * One event loop's entries, gathered into {@link #lines}, which go to the writer when full or
     * {@value #BATCH_MS} ms after the first. Touched by its loop only.
     */
    private final class LoopLines implements Runnable {
        final EventExecutor loop;
        private Lines lines;
        private boolean flushScheduled;

        LoopLines(EventExecutor loop) {
            this.loop = loop;
            this.lines = writer.fresh();
        }

        void add(Entry e) {
            Lines l = lines;
            l.entries[l.count++] = e;
            // The fields of any length: a batch holds about a write's worth of lines at most.
            l.bytes += LINE_FIXED + length(e.target()) + length(e.referer()) + length(e.userAgent());
            if (l.count == l.entries.length || l.bytes >= CHUNK) {
                lines = writer.take(l);
            } else if (!flushScheduled) {
                flushScheduled = true;
                loop.schedule(this, BATCH_MS, TimeUnit.MILLISECONDS);
            }
        }

        /** The flush timer: the entries of the last {@value #BATCH_MS} ms go to the writer. */
        @Override
        public void run() {
            flushScheduled = false;
            if (lines.count > 0) {
                lines = writer.take(lines);
            }
        }

        /** At close: what this loop holds goes to the writer, and the loop lets go of its entries. */
        void last() {
            if (lines.count > 0) {
                lines = writer.take(lines);
            }
            loopLines.remove();
        }
    }

    /**
     * Lines as bytes, in the log's format, gathered for one write of at most about {@value #CHUNK}
     * bytes. Used by the writer thread only.
     */
    private static final class Formatter {
        private final String format;
        private final boolean json;
        private final Times times = new Times();
        /** A {@code default} or {@code combined} line, before it is encoded. */
        private final StringBuilder text = new StringBuilder(256);
        private byte[] bytes = new byte[CHUNK];
        /** The end of the bytes written so far. */
        private int at;
        /** Lines in {@link #bytes}. */
        int lines;

        Formatter(String format) {
            this.format = format;
            this.json = format.equals(AccessLogConfig.JSON);
        }

        boolean isEmpty() {
            return at == 0;
        }

        byte[] bytes() {
            return bytes;
        }

        int size() {
            return at;
        }

        /** Emptied after a write; a buffer grown for one long line goes back to the usual size. */
        void reset() {
            at = 0;
            lines = 0;
            if (bytes.length != CHUNK) {
                bytes = new byte[CHUNK];
            }
        }

        /** Whether a line of at most {@code room} bytes may not fit after what is there: the bytes should be written first. */
        boolean full(int room) {
            return at > 0 && at + room > bytes.length;
        }

        /** Appends the line of {@code e}, of at most {@code room} bytes ({@link #room}). */
        void append(Entry e, int room) {
            if (at + room > bytes.length) {
                bytes = Arrays.copyOf(bytes, at + room); // one line longer than a buffer: written alone
            }
            if (json) {
                jsonLine(e);
            } else {
                text.setLength(0);
                AccessLog.append(text, format, e, times);
                text.append('\n');
                encode(text);
            }
            lines++;
        }

        /** Bytes a line of {@code e} takes at most. */
        int room(Entry e) {
            if (json) {
                return JSON_FIXED + 6 * (length(e.requestId()) + length(e.client()) + length(e.method())
                        + length(e.target()) + length(e.protocol()) + length(e.upstream()) + length(e.backend()));
            }
            // UTF-8: three bytes a char at most (a pair of surrogates: four); combined escapes a char as four.
            return 512 + 12 * (length(e.client()) + length(e.method()) + length(e.target()) + length(e.protocol())
                    + length(e.backend()) + length(e.referer()) + length(e.userAgent()));
        }

        /**
         * {@code e} as a JSON line: one object with exactly the fields of {@link Entry} but the
         * referer and user agent, strings escaped as RFC 8259 section 7 requires, written as bytes
         * straight into the buffer in one pass, whose room {@link #append} made.
         */
        private void jsonLine(Entry e) {
            long millis = e.timeMillis();
            put(J_TIME);
            put(times.isoPrefix(millis));
            int ms = (int) Math.floorMod(millis, 1000);
            byte[] b = bytes;
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
            System.arraycopy(ascii, 0, bytes, at, ascii.length);
            at += ascii.length;
        }

        /** {@code value} as a JSON string (escaped and encoded as it is copied), or null. */
        private void string(String value) {
            if (value == null) {
                put(J_NULL);
                return;
            }
            byte[] b = bytes;
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
            byte[] b = bytes;
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
                    bytes[at++] = (byte) c;
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
            byte[] b = bytes;
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
     * The entries the loops hand over, and the thread that formats and writes them; the stream is
     * touched by that thread only. Written entries' holders come back to the loops through {@link #free}.
     */
    private static final class Writer implements Runnable {
        private final Path file;
        private final AtomicLong dropped;
        private final Formatter formatter;
        private final Queue<Lines> full = PlatformDependent.newFixedMpscQueue(MAX_QUEUED);
        private final Queue<Lines> free = PlatformDependent.newFixedMpmcQueue(MAX_QUEUED);
        private volatile boolean reopen;
        private volatile boolean closed;
        /** Set once the writer takes nothing more from {@link #full} but its last look under the lock. */
        private volatile boolean stopped;
        private Thread thread;
        private OutputStream out;

        Writer(Path file, String format, AtomicLong dropped) {
            this.file = file;
            this.formatter = new Formatter(format);
            this.dropped = dropped;
        }

        /** An empty holder of {@link #BATCH} entries: a written one, or a new one. */
        Lines fresh() {
            Lines l = free.poll();
            return l != null ? l : new Lines(BATCH);
        }

        /** {@code l} is queued for writing (or dropped and counted when the queue is full); returns the loop's next holder. */
        Lines take(Lines l) {
            if (!send(l)) {
                l.clear();
                return l;
            }
            return fresh();
        }

        /**
         * Queues {@code l} for writing; returns false when it was dropped (and counted) instead: the
         * queue was full. After the writer has stopped, what is queued is counted as dropped.
         */
        boolean send(Lines l) {
            if (!full.offer(l)) {
                dropped.addAndGet(l.count);
                return false;
            }
            if (stopped) {
                // The writer's last look at the queue may have come before these entries: whoever
                // looks after it has stopped does so under the queue's lock, one at a time.
                synchronized (full) {
                    for (Lines late; (late = full.poll()) != null; ) {
                        dropped.addAndGet(late.count);
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
                    Lines l = full.poll();
                    if (l != null) {
                        write(l);
                    } else if (closed) {
                        break;
                    } else {
                        LockSupport.parkNanos(this, TimeUnit.SECONDS.toNanos(1)); // woken by take, reopen and close
                    }
                }
            } finally {
                stopped = true; // from here on a loop that queues entries empties the queue itself
                List<Lines> last = new ArrayList<>();
                synchronized (full) { // taken out under the lock, written outside it
                    for (Lines l; (l = full.poll()) != null; ) {
                        last.add(l);
                    }
                }
                for (Lines l : last) {
                    write(l);
                }
                closeFile();
            }
        }

        /** Formats the entries of {@code l} and writes them, a buffer at a time; {@code l} goes back to {@link #free}. */
        private void write(Lines l) {
            Formatter f = formatter;
            for (int i = 0; i < l.count; i++) {
                Entry e = l.entries[i];
                int room = f.room(e);
                if (f.full(room)) {
                    flush();
                }
                f.append(e, room);
            }
            flush();
            boolean reusable = l.entries.length == BATCH;
            l.clear();
            if (reusable) {
                free.offer(l);
            }
        }

        private void flush() {
            Formatter f = formatter;
            if (f.isEmpty()) {
                return;
            }
            try {
                if (out == null) {
                    // A FileOutputStream, not Files.newOutputStream: its write goes straight to the
                    // native call, where a channel's runs through layers of Java that a thread
                    // writing a few times a second runs interpreted.
                    out = file == null ? new FileOutputStream(FileDescriptor.out) : new FileOutputStream(file.toFile(), true);
                }
                out.write(f.bytes(), 0, f.size());
            } catch (IOException e) {
                log.warn("access log {}: {}", file == null ? "stdout" : file, e.toString());
                dropped.addAndGet(f.lines);
                closeFile(); // opened again for the next lines; these are lost
            }
            f.reset();
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
