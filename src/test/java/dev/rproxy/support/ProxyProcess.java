package dev.rproxy.support;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The proxy as users run it: {@code dev.rproxy.ProxyMain} in a JVM of its own, with its own flags,
 * output captured line by line. Used where the process boundary is the point (exit codes, signals,
 * a heap limit).
 */
public final class ProxyProcess implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("listening on [^ ]+:(\\d+) ");

    private final Process process;
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final CountDownLatch ready = new CountDownLatch(1);
    private final CountDownLatch outputClosed = new CountDownLatch(1);
    private volatile int port = -1;

    private ProxyProcess(Process process) {
        this.process = process;
        Thread reader = new Thread(this::readOutput, "proxy-process-output");
        reader.setDaemon(true);
        reader.start();
    }

    /** Starts {@code ProxyMain} with these JVM flags and program arguments. */
    public static ProxyProcess start(List<String> jvmArgs, String... args) throws IOException {
        return new ProxyProcess(new ProcessBuilder(javaCommand(jvmArgs, args)).redirectErrorStream(true).start());
    }

    /**
     * Starts {@code ProxyMain} with at most {@code limit} open file descriptors: bash sets both the
     * soft and the hard limit (the JVM would otherwise raise the soft one to the hard one), then
     * becomes the JVM, so {@link #pid()} is the JVM's.
     */
    public static ProxyProcess startWithDescriptorLimit(int limit, List<String> jvmArgs, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("bash", "-c", "ulimit -n " + limit + " && exec \"$@\"", "bash"));
        command.addAll(javaCommand(jvmArgs, args));
        return new ProxyProcess(new ProcessBuilder(command).redirectErrorStream(true).start());
    }

    private static List<String> javaCommand(List<String> jvmArgs, String... args) {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse("java"));
        command.add("--add-opens=java.base/java.nio=ALL-UNNAMED"); // as the jar's manifest does
        command.addAll(jvmArgs);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add("dev.rproxy.ProxyMain");
        command.addAll(List.of(args));
        return command;
    }

    /** Writes {@code json} to a temporary file for the process to read. */
    public static Path configFile(Path dir, String json) throws IOException {
        Path file = dir.resolve("config.json");
        Files.writeString(file, json);
        return file;
    }

    private void readOutput() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                lines.add(line);
                Matcher m = LISTENING.matcher(line);
                if (m.find()) {
                    port = Integer.parseInt(m.group(1));
                    ready.countDown();
                }
            }
        } catch (IOException e) {
            // the process went away; what was read is kept
        } finally {
            outputClosed.countDown();
        }
    }

    /** Waits for the "listening on" line and returns the port. */
    public int awaitListening(long timeout, TimeUnit unit) throws InterruptedException {
        if (!ready.await(timeout, unit)) {
            throw new AssertionError("proxy did not start listening; output:\n" + String.join("\n", lines));
        }
        return port;
    }

    /** Waits for the process to exit and its output to be read; returns the exit code. */
    public int awaitExit(long timeout, TimeUnit unit) throws InterruptedException {
        if (!process.waitFor(timeout, unit)) {
            throw new AssertionError("proxy did not exit; output:\n" + String.join("\n", lines));
        }
        outputClosed.await(timeout, unit);
        return process.exitValue();
    }

    /**
     * Sends SIGTERM. Through the process handle: {@code Process.destroy()} would also close our end
     * of the output pipe and lose what the process logs while it shuts down.
     */
    public void terminate() {
        process.toHandle().destroy();
    }

    public long pid() {
        return process.pid();
    }

    public List<String> output() {
        return List.copyOf(lines);
    }

    /** A field of /proc/PID/status in KiB (e.g. VmRSS, VmHWM); -1 once the process is gone. */
    public long procStatusKib(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + process.pid() + "/status"))) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
