package dev.rproxy;

import ch.qos.logback.classic.AsyncAppender;
import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * The built-in logging setup, in code rather than XML: parsing a logback.xml loads several hundred
 * classes (the XML parser and logback's configuration model) and was a large part of start-up time.
 *
 * <ul>
 *   <li>everything at INFO to stdout, Netty and Lettuce at WARN (the fleet logs Redis' comings
 *       and goings itself, once each); Lettuce's note that it prefers epoll to io_uring not at all
 *       (the fleet picks the transport);
 *   <li>the access log, logger {@code dev.rproxy.access}, through an asynchronous, never-blocking
 *       appender, so an event loop never waits for the console.
 * </ul>
 *
 * A file named by {@code -Dlogback.configurationFile} (see {@code logback-example.xml}), or a
 * {@code logback-test.xml} on the class path, replaces this setup.
 */
public final class LogConfigurator extends ContextAwareBase implements Configurator {

    @Override
    public ExecutionStatus configure(LoggerContext context) {
        if (System.getProperty("logback.configurationFile") != null
                || LogConfigurator.class.getClassLoader().getResource("logback-test.xml") != null) {
            return ExecutionStatus.INVOKE_NEXT_IF_ANY;
        }
        ConsoleAppender<ILoggingEvent> console = console(context, "STDOUT",
                "%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} %-5level %logger{0} - %msg%n");
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.INFO);
        root.addAppender(console);
        context.getLogger("io.netty").setLevel(Level.WARN);
        context.getLogger("io.lettuce").setLevel(Level.WARN);
        context.getLogger("io.lettuce.core.resource.Transports").setLevel(Level.ERROR);

        AsyncAppender access = new AsyncAppender();
        access.setContext(context);
        access.setName("ACCESS");
        access.setQueueSize(8192);
        access.setDiscardingThreshold(0);
        access.setNeverBlock(true);
        access.addAppender(console(context, "ACCESS_STDOUT", "%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} access %msg%n"));
        access.start();
        Logger accessLogger = context.getLogger("dev.rproxy.access");
        accessLogger.setLevel(Level.INFO);
        accessLogger.setAdditive(false);
        accessLogger.addAppender(access);
        return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }

    private static ConsoleAppender<ILoggingEvent> console(LoggerContext context, String name, String pattern) {
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern(pattern);
        encoder.start();
        ConsoleAppender<ILoggingEvent> appender = new ConsoleAppender<>();
        appender.setContext(context);
        appender.setName(name);
        appender.setEncoder(encoder);
        appender.start();
        return appender;
    }
}
