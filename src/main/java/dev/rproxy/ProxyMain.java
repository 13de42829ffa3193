package dev.rproxy;

import ch.qos.logback.classic.LoggerContext;
import dev.rproxy.config.ConfigException;
import dev.rproxy.config.ConfigLoader;
import dev.rproxy.config.ProxyConfig;
import dev.rproxy.server.ProxyServer;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * {@code java -jar proxy.jar config.json}: runs the proxy in the foreground until SIGTERM or SIGINT,
 * then shuts down gracefully and exits 0. A bad command line or configuration exits 2 with a
 * one-line message. {@code --check config.json} only validates the configuration and the files it
 * names (certificates, keys, CA files), and exits 0 or 2.
 */
public final class ProxyMain {
    private static final Logger log = LoggerFactory.getLogger(ProxyMain.class);

    private ProxyMain() {}

    public static void main(String[] args) {
        // Lets Netty reach DirectByteBuffer's private constructor (the jar's manifest opens
        // java.nio to it) and so allocate direct memory it accounts itself: at the limit an
        // allocation fails at once instead of entering the JDK's System.gc()-and-sleep path on an
        // event loop. Must be set before any Netty class loads.
        if (System.getProperty("io.netty.tryReflectionSetAccessible") == null) {
            System.setProperty("io.netty.tryReflectionSetAccessible", "true");
        }
        // Netty's own Flight Recorder events are a debugging aid; registering them loads and
        // initialises the JFR machinery at start (about a tenth of the time to the first proxied
        // answer). -Dio.netty.jfr.enabled=true turns them back on.
        if (System.getProperty("io.netty.jfr.enabled") == null) {
            System.setProperty("io.netty.jfr.enabled", "false");
        }
        if (args.length == 1 && (args[0].equals("--version") || args[0].equals("--help") || args[0].equals("-h"))) {
            System.out.println(args[0].equals("--version") ? "rproxy " + version() : HELP);
            System.exit(0);
            return;
        }
        boolean checkOnly = args.length == 2 && args[0].equals("--check");
        if (!checkOnly && (args.length != 1 || args[0].startsWith("-"))) {
            exit(2, "usage: java -jar proxy.jar [--check] <config.json> (--help for more)");
            return;
        }
        String file = args[args.length - 1];
        ProxyConfig config;
        try {
            config = ConfigLoader.load(Path.of(file));
            if (checkOnly) {
                ProxyServer.check(config); // the files it names: certificates, keys, CA files
            }
        } catch (ConfigException e) {
            exit(2, "invalid configuration: " + e.getMessage());
            return;
        }
        if (checkOnly) {
            log.info("{}: configuration ok", file);
            exit(0, null);
            return;
        }
        CountDownLatch stop = new CountDownLatch(1);
        // Handled signals, not a shutdown hook: the process then exits 0 after a clean drain
        // instead of the JVM's 128+signal.
        Signal.handle(new Signal("TERM"), s -> stop.countDown());
        Signal.handle(new Signal("INT"), s -> stop.countDown());
        ProxyServer[] running = new ProxyServer[1];
        // Reload: the file is read again and applied; a refused one is logged and changes nothing.
        Signal.handle(new Signal("HUP"), s -> {
            if (running[0] != null) {
                running[0].reloadAsync();
            }
        });
        // Log rotation: the access log file is reopened (nothing to do when it goes to stdout).
        Signal.handle(new Signal("USR1"), s -> {
            if (running[0] != null) {
                running[0].reopenLogs();
            }
        });
        ProxyServer server;
        try {
            server = new ProxyServer(config, Path.of(file)); // loads certificates
        } catch (ConfigException e) {
            exit(2, "invalid configuration: " + e.getMessage());
            return;
        }
        running[0] = server;
        try {
            server.start();
        } catch (Exception e) {
            server.shutdown();
            exit(1, "cannot start: " + e);
            return;
        }
        try {
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        server.shutdown();
        exit(0, null);
    }

    private static final String HELP = String.join("\n",
            "usage: java -jar proxy.jar <config.json>          run the proxy in the foreground",
            "       java -jar proxy.jar --check <config.json>  validate the configuration and the files it names; exit 0 or 2",
            "       java -jar proxy.jar --version | --help",
            "signals: TERM or INT stop gracefully (shutdown.graceMs); HUP reloads the configuration file;",
            "         USR1 reopens the access log file",
            "see README.md for the configuration keys");

    /** The jar's version (its manifest's Implementation-Version), or "dev" outside a jar. */
    private static String version() {
        String v = ProxyMain.class.getPackage().getImplementationVersion();
        return v != null ? v : "dev";
    }

    private static void exit(int code, String message) {
        if (message != null) {
            log.error(message);
        }
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context) {
            context.stop(); // flushes the asynchronous access log
        }
        System.exit(code);
    }
}
