package dev.rproxy.edge;

import dev.rproxy.config.RateLimitConfig;
import dev.rproxy.config.RouteConfig;
import dev.rproxy.config.RouteLimitsConfig;
import dev.rproxy.http.ErrorResponses.Failure;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.AsciiString;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * What a route checks before a backend is chosen, and what it changes in its responses: its size
 * limits, access rules and rate limits, then its response fields and security preset. A route
 * with none of these has no policy at all ({@link #of} gives {@code null}), so it costs nothing.
 *
 * <p>Order of the checks, cheapest and least revealing first: size limits (414, 431), {@code
 * deny} then {@code allow} (403), the rate limits in the route's order (429), the bearer token
 * (401), then the limits keyed by one of its claims (429). A limit that
 * counts in-flight requests is entered before its rate is taken; a later refusal leaves the counts
 * entered so far, while tokens taken stay taken (as with several {@code limit_req} zones in nginx).
 */
public final class RoutePolicy {
    public static final AsciiString RATELIMIT = AsciiString.cached("ratelimit");
    public static final AsciiString RATELIMIT_POLICY = AsciiString.cached("ratelimit-policy");
    /** Keys (field values, claims) longer than this count together, under {@link #OVERSIZED_KEY}. */
    static final int MAX_KEY_CHARS = 256;
    /**
     * The one key of every over-long field value or claim; named with a NUL, which no field value
     * has, so it is the same on every proxy of a fleet and no client's key.
     */
    private static final String OVERSIZED_KEY = "\u0000oversized";

    private final RouteLimitsConfig limits;
    /** The route's place in {@code routes}: its name in Redis for a global limit keyed by {@code route}. */
    private final int routeIndex;
    private final List<Cidr> allow;
    private final List<Cidr> deny;
    private final RateLimiter[] limiters;
    /** Per limiter: the request field it is keyed by, or {@code null} (client address, route, claim). */
    private final AsciiString[] headerKeys;
    private final String[] kinds;
    /** The quoted names of the limiters, as the {@code RateLimit} field lists them. */
    private final String[] quotedNames;
    /** {@code RateLimit-Policy}: every limit of the route with a rate; {@code null} when none has. */
    private final String policyField;
    private final boolean security;
    private final AsciiString[] remove;
    private final AsciiString[] setNames;
    private final String[] setValues;
    /** The route's token check; {@code null}: none. */
    private final JwtAuthenticator jwt;
    /** The fields claims are forwarded in, removed from every request first so none is forged. */
    private final AsciiString[] claimHeaders;
    /** Per limiter: the claim it is keyed by ({@code jwt:CLAIM}), or {@code null}. */
    private final String[] claimKeys;

    private RoutePolicy(RouteConfig route, int routeIndex, boolean security, RateLimits rateLimits,
                        JwtAuthenticator jwt) {
        this.routeIndex = routeIndex;
        this.jwt = jwt;
        this.claimHeaders = route.jwt() == null ? new AsciiString[0]
                : route.jwt().forwardClaims().values().stream().map(AsciiString::of).toArray(AsciiString[]::new);
        this.limits = route.limits().inheritsAll() ? null : route.limits();
        this.allow = Cidr.parseAll(route.allow());
        this.deny = Cidr.parseAll(route.deny());
        int n = route.rateLimit().size();
        this.limiters = new RateLimiter[n];
        this.headerKeys = new AsciiString[n];
        this.kinds = new String[n];
        this.quotedNames = new String[n];
        this.claimKeys = new String[n];
        List<String> policies = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            RateLimiter limiter = rateLimits.get(route.rateLimit().get(i));
            limiters[i] = limiter;
            String key = limiter.config().key();
            kinds[i] = key.startsWith(RateLimitConfig.HEADER) ? RateLimitConfig.HEADER
                    : key.startsWith(RateLimitConfig.JWT) ? RateLimitConfig.JWT : key;
            if (kinds[i].equals(RateLimitConfig.HEADER)) {
                headerKeys[i] = AsciiString.of(key.substring(RateLimitConfig.HEADER.length()));
            } else if (kinds[i].equals(RateLimitConfig.JWT)) {
                claimKeys[i] = key.substring(RateLimitConfig.JWT.length());
            }
            quotedNames[i] = RateLimiter.quoted(limiter.name());
            if (limiter.policyItem() != null) {
                policies.add(limiter.policyItem());
            }
        }
        this.policyField = policies.isEmpty() ? null : String.join(", ", policies);
        this.security = security;
        this.remove = route.responseHeaders().remove().stream().map(AsciiString::of).toArray(AsciiString[]::new);
        this.setNames = route.responseHeaders().set().keySet().stream().map(AsciiString::of).toArray(AsciiString[]::new);
        this.setValues = route.responseHeaders().set().values().toArray(new String[0]);
    }

    /**
     * The policy of {@code route}, {@code null} when it has nothing to check or change.
     *
     * @param index           the route's place in {@code routes}
     * @param securityDefault the top-level {@code securityHeaders}, for a route that does not say
     */
    public static RoutePolicy of(RouteConfig route, int index, boolean securityDefault, RateLimits rateLimits,
                                 Authenticators authenticators) {
        boolean security = route.securityHeaders() == null ? securityDefault : route.securityHeaders();
        boolean none = route.limits().inheritsAll() && route.allow().isEmpty() && route.deny().isEmpty()
                && route.rateLimit().isEmpty() && route.responseHeaders().changesNothing() && !security
                && route.jwt() == null;
        return none ? null : new RoutePolicy(route, index, security, rateLimits,
                route.jwt() == null ? null : authenticators.get(route.jwt()));
    }

    /** The route's place in {@code routes}. */
    int routeIndex() {
        return routeIndex;
    }

    /** The route's body limit, or {@code fallback} (the global one) when it has none. */
    public long maxBodyBytes(long fallback) {
        return limits == null || limits.maxBodyBytes() == 0 ? fallback : limits.maxBodyBytes();
    }

    /** Decides on {@code request} from {@code client}; the result is refused or holds what it entered. */
    public Admission admit(HttpRequest request, InetAddress client) {
        Admission a = new Admission(this);
        if (limits != null && refusedBySize(request, a)) {
            return a;
        }
        if (!deny.isEmpty() && Cidr.anyContains(deny, client)) {
            return a.refuse(Failure.FORBIDDEN, "client " + address(client) + " is denied");
        }
        if (!allow.isEmpty() && !Cidr.anyContains(allow, client)) {
            return a.refuse(Failure.FORBIDDEN, "client " + address(client) + " is not allowed");
        }
        count(request, client, a, false);
        if (jwt != null && !a.refused()) {
            authenticate(request, a, true);
            if (!a.refused() && a.awaitedKeys() == null) {
                count(request, client, a, true);
            }
        }
        return a;
    }

    /**
     * After {@link Admission#awaitedKeys} completed (or timed out): the token is checked once more,
     * a key still unknown now refused, and the limits keyed by a claim counted.
     */
    public void resume(HttpRequest request, InetAddress client, Admission a) {
        a.awaitKeys(null);
        authenticate(request, a, false);
        if (!a.refused()) {
            count(request, client, a, true);
        }
    }

    /**
     * The bearer token check (RFC 6750): 401 with {@code WWW-Authenticate: Bearer} when there is
     * none, with {@code error="invalid_token"} and a short description when it does not pass. The
     * claim fields are removed from the request first, whatever the outcome; a token that passes
     * sets them from its claims.
     */
    private void authenticate(HttpRequest request, Admission a, boolean mayWait) {
        HttpHeaders headers = request.headers();
        for (AsciiString name : claimHeaders) {
            headers.remove(name);
        }
        JwtAuthenticator.Result result = jwt.check(headers.get(HttpHeaderNames.AUTHORIZATION));
        if (result.ok()) {
            a.token(result);
            for (Map.Entry<String, String> field : result.forwardedHeaders().entrySet()) {
                headers.set(field.getKey(), field.getValue());
            }
            return;
        }
        if (result.failure() == JwtAuthenticator.Failure.MISSING) {
            a.refuse(Failure.TOKEN_REQUIRED, "no bearer token", HttpHeaderNames.WWW_AUTHENTICATE, "Bearer");
            return;
        }
        if (result.failure() == JwtAuthenticator.Failure.UNKNOWN_KEY && mayWait) {
            CompletableFuture<Void> fetch = jwt.refreshing();
            if (!fetch.isDone()) {
                a.awaitKeys(fetch);
                return;
            }
            // The load may have ended between the check and now: the keys are the newest there are.
            authenticate(request, a, false);
            return;
        }
        a.refuse(Failure.INVALID_TOKEN, "token: " + result.description(), HttpHeaderNames.WWW_AUTHENTICATE,
                "Bearer error=\"invalid_token\", error_description=\"" + result.description() + "\"");
    }

    private void count(HttpRequest request, InetAddress client, Admission a, boolean byClaim) {
        long now = RateLimiter.now();
        for (int i = 0; i < limiters.length && !a.refused(); i++) {
            if ((claimKeys[i] != null) != byClaim) {
                continue; // counted in the other pass
            }
            Object key = byClaim ? a.token().claim(claimKeys[i]) : key(i, request, client);
            if (key == null) {
                continue; // without the field or claim this limit does not count the request
            }
            if (key instanceof String text && text.length() > MAX_KEY_CHARS) {
                key = OVERSIZED_KEY; // a table of 16 KB keys would not be bounded by maxKeys alone
            }
            RateLimiter limiter = limiters[i];
            RateLimiter.Counter counter = limiter.counter(key);
            if (limiter.hasConcurrency()) {
                if (!limiter.enter(counter)) {
                    a.refuse(Failure.TOO_MANY_IN_FLIGHT,
                            limiter.name() + ": " + limiter.config().maxConcurrent() + " in flight for " + key,
                            HttpHeaderNames.RETRY_AFTER, "1");
                    return;
                }
                a.hold(counter);
            }
            if (limiter.hasRate()) {
                long ahead = limiter.take(counter, now);
                if (ahead < 0) {
                    long wait = seconds(-ahead);
                    a.refuse(Failure.RATE_LIMITED,
                            limiter.name() + ": over " + limiter.config().requestsPerSecond() + "/s for " + key,
                            HttpHeaderNames.RETRY_AFTER, Long.toString(wait), RATELIMIT_POLICY, policyField,
                            RATELIMIT, quotedNames[i] + ";r=0;t=" + wait);
                    return;
                }
                a.rateLimitItem(quotedNames[i], limiter.remaining(ahead), seconds(ahead));
            }
        }
    }

    /** What limiter {@code i} counts {@code request} by; {@code null}: not counted. */
    private Object key(int i, HttpRequest request, InetAddress client) {
        return switch (kinds[i]) {
            case RateLimitConfig.CLIENT_IP -> client;
            case RateLimitConfig.ROUTE -> this;
            case RateLimitConfig.HEADER -> request.headers().get(headerKeys[i]);
            default -> null;
        };
    }

    private boolean refusedBySize(HttpRequest request, Admission a) {
        if (limits.maxRequestLineBytes() > 0) {
            int line = request.method().name().length() + 1 + request.uri().length() + 1 + request.protocolVersion().text().length();
            if (line > limits.maxRequestLineBytes()) {
                a.refuse(Failure.URI_TOO_LONG,
                        line + " bytes, over the route's " + limits.maxRequestLineBytes());
                return true;
            }
        }
        if (limits.maxHeaderBytes() > 0) {
            long bytes = 0;
            for (Iterator<Map.Entry<CharSequence, CharSequence>> it = request.headers().iteratorCharSequence(); it.hasNext(); ) {
                Map.Entry<CharSequence, CharSequence> field = it.next();
                bytes += field.getKey().length() + 2 + field.getValue().length() + 2; // name: value CRLF
            }
            if (bytes > limits.maxHeaderBytes()) {
                a.refuse(Failure.HEADERS_TOO_LARGE,
                        bytes + " bytes of fields, over the route's " + limits.maxHeaderBytes());
                return true;
            }
        }
        return false;
    }

    /**
     * Changes a response of this route, the backend's or the proxy's own: {@code remove}, the
     * security preset, {@code set}, then the rate-limit fields.
     *
     * @param admission the request's, for its {@code RateLimit} field; {@code null} when it has none
     * @param tls       the response goes to the client over TLS
     */
    public void decorate(HttpHeaders headers, Admission admission, boolean tls) {
        for (AsciiString name : remove) {
            headers.remove(name);
        }
        if (security) {
            SecurityHeaders.apply(headers, tls);
        }
        for (int i = 0; i < setNames.length; i++) {
            headers.set(setNames[i], setValues[i]);
        }
        if (policyField != null) {
            headers.set(RATELIMIT_POLICY, policyField);
            String field = admission == null ? null : admission.rateLimitField();
            if (field != null) {
                headers.set(RATELIMIT, field);
            }
        }
    }

    /** Whole seconds, rounded up: a client that waits that long finds a token. */
    private static long seconds(long nanos) {
        return (nanos + TimeUnit.SECONDS.toNanos(1) - 1) / TimeUnit.SECONDS.toNanos(1);
    }

    private static String address(InetAddress client) {
        return client == null ? "-" : client.getHostAddress();
    }
}
