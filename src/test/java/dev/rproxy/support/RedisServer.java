package dev.rproxy.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real {@code redis-server} (Debian's package) on a free loopback port, without persistence:
 * started and waited for (it answers {@code PING}), killed like a crash ({@link #kill}), started
 * again on the same port ({@link #restart}), and stopped when closed.
 */
public final class RedisServer implements AutoCloseable {
    private static final long START_MS = 10_000;
    private final int port;
    private final Path dir;
    private final List<String> extra;
    private Process process;

    public RedisServer() throws IOException, InterruptedException {
        this(new String[0]);
    }

    /** With more options ({@code "--requirepass", "secret"}); PING then needs no password, it answers NOAUTH. */
    public RedisServer(String... options) throws IOException, InterruptedException {
        extra = List.of(options);
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        dir = Files.createTempDirectory("redis-test");
        start();
    }

    /** Whether the binary is installed (tests that need it are skipped when not). */
    public static boolean available() {
        return Files.isExecutable(Path.of("/usr/bin/redis-server"));
    }

    public int port() {
        return port;
    }

    public String url() {
        return "redis://127.0.0.1:" + port;
    }

    private void start() throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(List.of("/usr/bin/redis-server", "--port", Integer.toString(port),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir.toString(),
                "--daemonize", "no", "--loglevel", "warning", "--enable-debug-command", "local"));
        command.addAll(extra);
        process = new ProcessBuilder(command)
                .redirectErrorStream(true).redirectOutput(dir.resolve("redis.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_MS);
        while (!answersPing()) {
            if (!process.isAlive()) {
                throw new IOException("redis-server exited: " + Files.readString(dir.resolve("redis.log")));
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("redis-server did not answer PING within " + START_MS + " ms");
            }
            Thread.sleep(20);
        }
    }

    /** Whether it answers {@code PING} now (with {@code +PONG}, or {@code -NOAUTH} behind a password). */
    public boolean answersPing() {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            s.setSoTimeout(500);
            OutputStream out = s.getOutputStream();
            out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            String reply = new String(in.readNBytes(7), StandardCharsets.US_ASCII);
            return reply.equals("+PONG\r\n") || reply.startsWith("-NOAUTH");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Makes it stop answering anyone for {@code ms} ({@code DEBUG SLEEP}), as an overloaded or
     * swapping server does; returns at once, the reply is read by a thread of its own.
     */
    public void stall(long ms) {
        Thread sleeper = new Thread(() -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
                s.setSoTimeout((int) ms + 5000);
                s.getOutputStream().write(("DEBUG SLEEP " + ms / 1000.0 + "\r\n").getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                s.getInputStream().read();
            } catch (IOException e) {
                // the server went away meanwhile: nothing to wait for
            }
        }, "redis-stall");
        sleeper.setDaemon(true);
        sleeper.start();
    }

    /** Whether {@code key} is there ({@code EXISTS}; no password). */
    public boolean exists(String key) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            s.setSoTimeout(2000);
            byte[] name = key.getBytes(StandardCharsets.UTF_8);
            s.getOutputStream().write(("*2\r\n$6\r\nEXISTS\r\n$" + name.length + "\r\n" + key + "\r\n")
                    .getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            return new String(s.getInputStream().readNBytes(4), StandardCharsets.US_ASCII).equals(":1\r\n");
        }
    }

    /** Sets {@code key} to {@code value} for {@code ms} ({@code SET key value PX ms}; no password). */
    public void set(String key, String value, long ms) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            s.setSoTimeout(2000);
            String px = Long.toString(ms);
            StringBuilder command = new StringBuilder("*5\r\n");
            for (String arg : new String[] {"SET", key, value, "PX", px}) {
                command.append('$').append(arg.getBytes(StandardCharsets.UTF_8).length).append("\r\n").append(arg).append("\r\n");
            }
            s.getOutputStream().write(command.toString().getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            String reply = new String(s.getInputStream().readNBytes(5), StandardCharsets.US_ASCII);
            if (!reply.equals("+OK\r\n")) {
                throw new IOException("SET: " + reply);
            }
        }
    }

    /** Publishes {@code message} on {@code channel} ({@code PUBLISH}; no password); returns the subscribers that got it. */
    public long publish(String channel, String message) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            s.setSoTimeout(2000);
            byte[] name = channel.getBytes(StandardCharsets.UTF_8);
            byte[] body = message.getBytes(StandardCharsets.UTF_8);
            OutputStream out = s.getOutputStream();
            out.write(("*3\r\n$7\r\nPUBLISH\r\n$" + name.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(name);
            out.write(("\r\n$" + body.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            StringBuilder reply = new StringBuilder();
            for (int b = in.read(); b >= 0 && b != '\n'; b = in.read()) {
                reply.append((char) b);
            }
            if (reply.length() < 2 || reply.charAt(0) != ':') {
                throw new IOException("PUBLISH: " + reply);
            }
            return Long.parseLong(reply.substring(1, reply.length() - 1));
        }
    }

    /** How many connections are subscribed to {@code channel} ({@code PUBSUB NUMSUB}; no password). */
    public long subscribers(String channel) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            s.setSoTimeout(2000);
            byte[] name = channel.getBytes(StandardCharsets.UTF_8);
            s.getOutputStream().write(("*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$" + name.length + "\r\n" + channel + "\r\n")
                    .getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            // *2 $len channel :count, the count last
            InputStream in = s.getInputStream();
            StringBuilder reply = new StringBuilder();
            Pattern count = Pattern.compile("\r\n:(\\d+)\r\n$");
            while (true) {
                int b = in.read();
                if (b < 0) {
                    throw new IOException("redis-server closed the connection: " + reply);
                }
                reply.append((char) b);
                Matcher m = count.matcher(reply);
                if (m.find()) {
                    return Long.parseLong(m.group(1));
                }
            }
        }
    }

    /** SIGKILL, as a crash: no goodbye to its clients; waits until the process is gone. */
    public void kill() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** Starts it again on the same port, empty (nothing was saved). */
    public void restart() throws IOException, InterruptedException {
        kill();
        start();
    }

    @Override
    public void close() throws InterruptedException, IOException {
        kill();
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.deleteIfExists(f);
            }
        }
        Files.deleteIfExists(dir);
    }
}
