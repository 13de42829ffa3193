package dev.rproxy.edge;

import dev.rproxy.config.JwtConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The current {@link JwksKeys} of one {@link JwtConfig}, loaded again every {@code jwksRefreshMs}
 * and, at most once per {@code unknownKeyRefreshMs}, when a token names a key the set lacks (the
 * issuer has rotated its keys).
 *
 * <p>Threads: {@link #keys()} is a volatile read, for any thread. Loads start on the scheduler,
 * never on the caller's thread: a file is read there; a URL is fetched with the JDK's {@link
 * HttpClient}, whose own threads complete it. At most one load runs at a time; {@link
 * #refreshing()} is that load. A failed load keeps the keys there were, with one warning.
 */
final class JwksLoader implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(JwksLoader.class);

    /** A key set is a few kilobytes; the bound keeps a wrong URL from filling the heap. */
    static final int MAX_JWKS_BYTES = 512 * 1024;
    static final Duration FETCH_TIMEOUT = Duration.ofSeconds(10);

    private final Path file;
    private final URI url;
    private final String source;
    private final ScheduledExecutorService scheduler;
    private final long unknownKeyRefreshNanos;
    private final AtomicReference<CompletableFuture<Void>> inFlight = new AtomicReference<>();
    /** When a token with an unknown key last started a load ({@link System#nanoTime()}). */
    private final AtomicLong lastUnknownKeyLoad;
    private final ScheduledFuture<?> periodic;
    private volatile JwksKeys keys = JwksKeys.EMPTY;
    private volatile boolean closed;

    /**
     * Reads a {@code jwksFile} before returning (so its keys are there for the first request);
     * starts fetching a {@code jwksUrl}, whose failure only logs.
     */
    JwksLoader(JwtConfig config, ScheduledExecutorService scheduler, long unknownKeyRefreshMs) {
        this.file = config.jwksFile();
        this.url = config.jwksUrl();
        this.source = file != null ? file.toString() : url.toString();
        this.scheduler = scheduler;
        this.unknownKeyRefreshNanos = TimeUnit.MILLISECONDS.toNanos(unknownKeyRefreshMs);
        this.lastUnknownKeyLoad = new AtomicLong(System.nanoTime() - unknownKeyRefreshNanos);
        if (file != null) {
            readFile(new CompletableFuture<>()); // here, before anyone can ask what is loading
        } else {
            refresh();
        }
        this.periodic = scheduler.scheduleWithFixedDelay(this::refresh, config.jwksRefreshMs(),
                config.jwksRefreshMs(), TimeUnit.MILLISECONDS);
    }

    JwksKeys keys() {
        return keys;
    }

    /** The load under way, or a completed future; completes normally whether the load worked or not. */
    CompletableFuture<Void> refreshing() {
        CompletableFuture<Void> running = inFlight.get();
        return running == null ? CompletableFuture.completedFuture(null) : running.copy();
    }

    /** A token named a key the set lacks: loads again unless a load runs or one started for this lately. */
    void unknownKey() {
        if (inFlight.get() != null) {
            return;
        }
        long now = System.nanoTime();
        long last = lastUnknownKeyLoad.get();
        if (now - last >= unknownKeyRefreshNanos && lastUnknownKeyLoad.compareAndSet(last, now)) {
            refresh();
        }
    }

    /** Stops the periodic loads; one under way finishes but changes nothing. */
    @Override
    public void close() {
        closed = true;
        periodic.cancel(false);
    }

    /** Starts a load unless one runs; either way, the one running. */
    private CompletableFuture<Void> refresh() {
        while (!closed) {
            CompletableFuture<Void> running = inFlight.get();
            if (running != null) {
                return running;
            }
            CompletableFuture<Void> started = new CompletableFuture<>();
            if (inFlight.compareAndSet(null, started)) {
                try {
                    scheduler.execute(() -> load(started));
                } catch (RejectedExecutionException e) {
                    finish(started, null, e);
                }
                return started;
            }
        }
        return CompletableFuture.completedFuture(null);
    }

    private void load(CompletableFuture<Void> started) {
        if (file != null) {
            readFile(started);
            return;
        }
        try {
            HttpRequest request = HttpRequest.newBuilder(url).timeout(FETCH_TIMEOUT)
                    .header("Accept", "application/jwk-set+json, application/json").GET().build();
            Http.CLIENT.sendAsync(request, JwksLoader::body).whenComplete((response, error) -> {
                if (error == null && response.statusCode() != 200) {
                    error = new IOException("HTTP status " + response.statusCode());
                }
                finish(started, error == null ? response.body() : null, error);
            });
        } catch (RuntimeException e) {
            finish(started, null, e);
        }
    }

    private void readFile(CompletableFuture<Void> started) {
        try {
            long size = Files.size(file);
            if (size > MAX_JWKS_BYTES) {
                throw new IOException(size + " bytes (expected: at most " + MAX_JWKS_BYTES + ")");
            }
            finish(started, Files.readString(file), null);
        } catch (IOException | RuntimeException e) {
            finish(started, null, e);
        }
    }

    /** Ends the load {@code started}: with the set in {@code json}, or keeping the keys there are. */
    private void finish(CompletableFuture<Void> started, String json, Throwable error) {
        try {
            if (error == null && !closed && !json.equals(keys.json())) {
                JwksKeys loaded = JwksKeys.parse(json);
                keys = loaded;
                log.info("JWKS {}: {} key(s){}", source, loaded.size(),
                        loaded.skipped().isEmpty() ? "" : ", left out: " + String.join("; ", loaded.skipped()));
            }
        } catch (ParseException | RuntimeException e) {
            error = e;
        }
        if (error != null && !closed) {
            log.warn("JWKS {}: not loaded ({}), keeping the {} key(s) there were", source, reason(error), keys.size());
        }
        inFlight.compareAndSet(started, null);
        started.complete(null);
    }

    private static String reason(Throwable error) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        return cause.getClass().getSimpleName() + (cause.getMessage() == null ? "" : ": " + cause.getMessage());
    }

    /** A 200 response's body as text, refused past {@link #MAX_JWKS_BYTES}; other statuses' are dropped. */
    private static HttpResponse.BodySubscriber<String> body(HttpResponse.ResponseInfo info) {
        return info.statusCode() == 200 ? new BoundedText(MAX_JWKS_BYTES) : HttpResponse.BodySubscribers.replacing(null);
    }

    /** Collects a body up to a limit, cancelling the exchange past it. */
    private static final class BoundedText implements HttpResponse.BodySubscriber<String> {
        private final int limit;
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final CompletableFuture<String> text = new CompletableFuture<>();
        private Flow.Subscription subscription;

        BoundedText(int limit) {
            this.limit = limit;
        }

        @Override
        public CompletionStage<String> getBody() {
            return text;
        }

        @Override
        public void onSubscribe(Flow.Subscription subscription) {
            this.subscription = subscription;
            subscription.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(List<ByteBuffer> buffers) {
            for (ByteBuffer buffer : buffers) {
                if (text.isDone()) {
                    return;
                }
                if (bytes.size() + buffer.remaining() > limit) {
                    subscription.cancel();
                    text.completeExceptionally(new IOException("body over " + limit + " bytes"));
                    return;
                }
                byte[] chunk = new byte[buffer.remaining()];
                buffer.get(chunk);
                bytes.write(chunk, 0, chunk.length);
            }
        }

        @Override
        public void onError(Throwable error) {
            text.completeExceptionally(error);
        }

        @Override
        public void onComplete() {
            text.complete(bytes.toString(StandardCharsets.UTF_8));
        }
    }

    /**
     * One client for every loader: on Java 17 an {@link HttpClient} cannot be closed, and its
     * selector thread lives as long as the client does. Its threads are daemons; redirects are not
     * followed, so the configured URL is the only place keys come from.
     */
    private static final class Http {
        static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(FETCH_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }
}
