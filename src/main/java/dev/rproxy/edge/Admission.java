package dev.rproxy.edge;

import dev.rproxy.http.ErrorResponses.Failure;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.concurrent.CompletableFuture;

/**
 * What a route's {@link RoutePolicy} decided for one request: either a refusal (status, message and
 * the fields that explain it) or an admission, which holds the request's places in the in-flight
 * counts until {@link #release} and the {@code RateLimit} field its responses carry.
 */
public final class Admission {
    private final RoutePolicy policy;
    private Failure failure;
    private String detail;
    private Object[] fields;
    private RateLimiter.Counter[] held;
    private int heldCount;
    private StringBuilder rateLimit;
    private JwtAuthenticator.Result token;
    private CompletableFuture<Void> awaitedKeys;

    Admission(RoutePolicy policy) {
        this.policy = policy;
    }

    public RoutePolicy policy() {
        return policy;
    }

    public boolean refused() {
        return failure != null;
    }

    /** The refusal; {@code null} when admitted. */
    public Failure failure() {
        return failure;
    }

    /**
     * While the route's key set is fetched again for a token that names a key it does not have:
     * that fetch. The request waits for it and then {@link RoutePolicy#resume}s; {@code null}
     * otherwise.
     */
    public CompletableFuture<Void> awaitedKeys() {
        return awaitedKeys;
    }

    void awaitKeys(CompletableFuture<Void> fetch) {
        this.awaitedKeys = fetch;
    }

    /** The verified token, for limits keyed by a claim; {@code null} before or without one. */
    JwtAuthenticator.Result token() {
        return token;
    }

    void token(JwtAuthenticator.Result token) {
        this.token = token;
    }

    /** For the proxy's log: which rule, which key. */
    public String detail() {
        return detail;
    }

    /** Adds the fields that explain the refusal (Retry-After, WWW-Authenticate, RateLimit) to {@code headers}. */
    public void addRefusalFields(HttpHeaders headers) {
        if (fields != null) {
            for (int i = 0; i < fields.length; i += 2) {
                headers.set((CharSequence) fields[i], fields[i + 1]);
            }
        }
    }

    /** The {@code RateLimit} field of the request's responses; {@code null} when no rate counted it. */
    String rateLimitField() {
        return rateLimit == null ? null : rateLimit.toString();
    }

    Admission refuse(Failure failure, String detail, Object... fields) {
        this.failure = failure;
        this.detail = detail;
        this.fields = fields;
        release();
        return this;
    }

    void hold(RateLimiter.Counter counter) {
        if (held == null) {
            held = new RateLimiter.Counter[4];
        } else if (heldCount == held.length) {
            held = java.util.Arrays.copyOf(held, heldCount * 2);
        }
        held[heldCount++] = counter;
    }

    void rateLimitItem(String policyName, long remaining, long resetSeconds) {
        if (rateLimit == null) {
            rateLimit = new StringBuilder(48);
        } else {
            rateLimit.append(", ");
        }
        rateLimit.append(policyName).append(";r=").append(remaining).append(";t=").append(resetSeconds);
    }

    /** Leaves the in-flight counts this request entered; once (later calls do nothing). */
    public void release() {
        for (int i = 0; i < heldCount; i++) {
            held[i].leave();
            held[i] = null;
        }
        heldCount = 0;
    }
}
