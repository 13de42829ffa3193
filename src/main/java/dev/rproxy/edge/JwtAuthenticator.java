package dev.rproxy.edge;

import com.nimbusds.jose.Header;
import com.nimbusds.jose.JOSEObject;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.PlainHeader;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.rproxy.config.JwtConfig;
import java.text.ParseException;
import java.util.Collections;
import java.util.Date;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.stream.Collectors;

/**
 * Checks the bearer token of a request (RFC 6750 §2.1) against one {@link JwtConfig}: a JWS
 * (RFC 7515) in compact form, signed with a key of the configured JWK Set by one of the configured
 * algorithms, whose claims (RFC 7519 §4.1) have the configured issuer and audience and a lifetime
 * that includes now.
 *
 * <p>The key comes only from the key set: a token's {@code jwk}, {@code jku}, {@code x5u} and
 * {@code x5c} headers are never used. {@code none} and HMAC algorithms are refused whatever the
 * configuration says, so a token MACed with a public key's bytes (the RS/HS confusion) cannot pass.
 *
 * <p>Threads: {@link #check} is for event loops: it never blocks or does I/O. A token that
 * verified is remembered in a concurrent map until it expires, for as long as the key set it
 * verified with is the current one; a repeated token costs a lookup and a clock read. A token whose
 * key the set lacks starts a load of the set (rate-limited) on the scheduler; {@link #refreshing()}
 * completes when that load ends, and the caller may then check once more.
 */
public final class JwtAuthenticator implements AutoCloseable {

    /** How often tokens with unknown keys may make the key set load again, by default. */
    public static final long DEFAULT_UNKNOWN_KEY_REFRESH_MS = 10_000;
    /** Tokens remembered at most; past it, expired ones go, then half of the rest. */
    static final int MAX_CACHED = 4096;
    /** Longer than any reasonable JWT; bounds the work an unauthenticated client can cause. */
    static final int MAX_TOKEN_CHARS = 8192;

    /** Why a token was not accepted, for the status and {@code WWW-Authenticate} response. */
    public enum Failure {
        /** No {@code Authorization: Bearer} token: RFC 6750 §3.1 sends no error code. */
        MISSING,
        /** The token is not acceptable: {@code error="invalid_token"}. */
        INVALID,
        /** The token names a key the set lacks; a load of the set has started, see {@link #refreshing()}. */
        UNKNOWN_KEY
    }

    private static final Result MISSING_HEADER = Result.failed(Failure.MISSING, "missing bearer token");
    private static final Result NOT_BEARER = Result.failed(Failure.MISSING, "not a bearer token");
    private static final Result TOO_LARGE = Result.failed(Failure.INVALID, "token too large");
    private static final Result MALFORMED = Result.failed(Failure.INVALID, "malformed token");
    private static final Result UNSIGNED = Result.failed(Failure.INVALID, "unsigned token");
    private static final Result ALGORITHM = Result.failed(Failure.INVALID, "algorithm not allowed");
    private static final Result CRITICAL = Result.failed(Failure.INVALID, "unsupported critical header");
    private static final Result KEY_MISMATCH = Result.failed(Failure.INVALID, "key does not fit the algorithm");
    private static final Result SIGNATURE = Result.failed(Failure.INVALID, "invalid signature");
    private static final Result UNKNOWN_KID = Result.failed(Failure.UNKNOWN_KEY, "unknown key");
    private static final Result NO_KEY = Result.failed(Failure.UNKNOWN_KEY, "no key for the algorithm");
    private static final Result NO_EXPIRY = Result.failed(Failure.INVALID, "token without exp");
    private static final Result EXPIRED = Result.failed(Failure.INVALID, "token expired");
    private static final Result NOT_YET_VALID = Result.failed(Failure.INVALID, "token not yet valid");
    private static final Result ISSUED_LATER = Result.failed(Failure.INVALID, "token issued in the future");
    private static final Result ISSUER = Result.failed(Failure.INVALID, "wrong issuer");
    private static final Result AUDIENCE = Result.failed(Failure.INVALID, "wrong audience");

    private final String issuer;
    private final List<String> audiences;
    private final Set<JWSAlgorithm> algorithms;
    private final long skewMs;
    private final Map<String, String> forwardClaims;
    private final JwksLoader loader;
    private final ConcurrentHashMap<String, Verified> verified = new ConcurrentHashMap<>();

    /** A token that verified with {@code keys}, good until {@code untilMs}, and what checking it gives. */
    private record Verified(JwksKeys keys, long untilMs, Result result) {
    }

    /** As {@link #JwtAuthenticator(JwtConfig, ScheduledExecutorService, long)} with the default rate. */
    public JwtAuthenticator(JwtConfig config, ScheduledExecutorService scheduler) {
        this(config, scheduler, DEFAULT_UNKNOWN_KEY_REFRESH_MS);
    }

    /**
     * Loads the key set: a {@code jwksFile} is read before this returns, a {@code jwksUrl} fetch
     * starts (a failure only logs; until keys arrive, tokens get {@link Failure#UNKNOWN_KEY}).
     *
     * @param scheduler           runs the loads of the key set, every {@code jwksRefreshMs} and on
     *                            demand; reading a file blocks it briefly, so not an event loop
     *                            that serves connections: a Netty {@code DefaultEventExecutor}
     *                            (an {@code EventExecutor} is a {@code ScheduledExecutorService}) or
     *                            a single-thread executor. The caller owns it and shuts it down.
     * @param unknownKeyRefreshMs how long after a token with an unknown key made the set load
     *                            again the next such token may
     */
    public JwtAuthenticator(JwtConfig config, ScheduledExecutorService scheduler, long unknownKeyRefreshMs) {
        this.issuer = config.issuer();
        this.audiences = config.audiences();
        this.algorithms = config.algorithms().stream().map(JWSAlgorithm::parse).collect(Collectors.toUnmodifiableSet());
        this.skewMs = config.clockSkewSeconds() * 1000L;
        this.forwardClaims = config.forwardClaims();
        this.loader = new JwksLoader(config, scheduler, unknownKeyRefreshMs);
    }

    /**
     * Checks the value of a request's {@code Authorization} field ({@code null}: none). Never
     * blocks. A field seen before with a token that passed is found by the field's value as it
     * came, before any parsing: a repeated token costs one map lookup and no copy.
     */
    public Result check(String authorization) {
        long now = System.currentTimeMillis();
        JwksKeys keys = loader.keys();
        if (authorization != null) {
            Verified known = verified.get(authorization);
            if (known != null) {
                if (now < known.untilMs() && known.keys() == keys) {
                    return known.result();
                }
                verified.remove(authorization, known);
                if (now >= known.untilMs()) {
                    return EXPIRED;
                }
            }
        }
        String token = bearerToken(authorization);
        if (token == null) {
            return authorization == null || authorization.isBlank() ? MISSING_HEADER : NOT_BEARER;
        }
        if (token.length() > MAX_TOKEN_CHARS) {
            return TOO_LARGE;
        }
        return verify(token, authorization, keys, now);
    }

    /** The load of the key set under way, or a completed future; it never completes exceptionally. */
    public CompletableFuture<Void> refreshing() {
        return loader.refreshing();
    }

    /** Stops loading the key set; {@link #check} goes on with the keys there are. */
    @Override
    public void close() {
        loader.close();
    }

    /** {@code field}: the {@code Authorization} value {@code token} came in, which a pass is remembered by. */
    private Result verify(String token, String field, JwksKeys keys, long now) {
        SignedJWT jwt;
        try {
            jwt = SignedJWT.parse(token);
        } catch (ParseException e) {
            return unsigned(token) ? UNSIGNED : MALFORMED;
        }
        JWSHeader header = jwt.getHeader();
        if (!algorithms.contains(header.getAlgorithm()) || refused(header.getAlgorithm())) {
            return ALGORITHM;
        }
        if (header.getCriticalParams() != null && !header.getCriticalParams().isEmpty()) {
            return CRITICAL; // none are understood here (RFC 7515 §4.1.11)
        }
        switch (keys.verify(jwt)) {
            case UNKNOWN_KID -> {
                loader.unknownKey();
                return UNKNOWN_KID;
            }
            case NO_FITTING_KEY -> {
                if (header.getKeyID() != null) {
                    return KEY_MISMATCH;
                }
                loader.unknownKey();
                return NO_KEY;
            }
            case BAD_SIGNATURE -> {
                return SIGNATURE;
            }
            default -> {
                // VERIFIED: the claims are worth reading.
            }
        }
        JWTClaimsSet claims;
        try {
            claims = jwt.getJWTClaimsSet();
        } catch (ParseException e) {
            return MALFORMED;
        }
        Result refused = refusal(claims, now);
        if (refused != null) {
            return refused;
        }
        Result ok = Result.verified(claims, forwardClaims);
        remember(field, new Verified(keys, plus(claims.getExpirationTime().getTime(), skewMs), ok), now, keys);
        return ok;
    }

    /** Why the claims are not acceptable now, or {@code null}; times may be off by the skew either way. */
    private Result refusal(JWTClaimsSet claims, long now) {
        Date exp = claims.getExpirationTime();
        if (exp == null) {
            return NO_EXPIRY;
        }
        if (now >= plus(exp.getTime(), skewMs)) {
            return EXPIRED;
        }
        Date nbf = claims.getNotBeforeTime();
        if (nbf != null && now < nbf.getTime() - skewMs) {
            return NOT_YET_VALID;
        }
        Date iat = claims.getIssueTime();
        if (iat != null && now < iat.getTime() - skewMs) {
            return ISSUED_LATER;
        }
        if (!issuer.equals(claims.getIssuer())) {
            return ISSUER;
        }
        if (!audiences.isEmpty() && claims.getAudience().stream().noneMatch(audiences::contains)) {
            return AUDIENCE;
        }
        return null;
    }

    /** Keeps the map bounded: past {@link #MAX_CACHED}, drops what cannot hit, then half of the rest. */
    private void remember(String token, Verified entry, long now, JwksKeys keys) {
        if (verified.size() >= MAX_CACHED) {
            verified.values().removeIf(v -> now >= v.untilMs() || v.keys() != keys);
            Iterator<String> it = verified.keySet().iterator();
            while (verified.size() > MAX_CACHED / 2 && it.hasNext()) {
                it.next();
                it.remove();
            }
        }
        verified.put(token, entry);
    }

    /**
     * The token of {@code Bearer <token>}; the scheme is case-insensitive (RFC 9110 §11.1).
     * {@code null} when the value is of another scheme or has no token.
     */
    static String bearerToken(String authorization) {
        if (authorization == null) {
            return null;
        }
        String value = authorization.trim();
        if (value.length() < 8 || !value.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        int start = 7;
        while (start < value.length() && value.charAt(start) == ' ') {
            start++;
        }
        return start == value.length() ? null : value.substring(start);
    }

    /** Whether a token that is no JWS is an unsecured JWT ({@code alg: none}, RFC 7519 §6). */
    private static boolean unsigned(String token) {
        try {
            return Header.parse(JOSEObject.split(token)[0]) instanceof PlainHeader;
        } catch (ParseException | RuntimeException e) {
            return false;
        }
    }

    private static long plus(long ms, long more) {
        return ms > Long.MAX_VALUE - more ? Long.MAX_VALUE : ms + more;
    }

    /** Algorithms never accepted, whatever the configuration lists. */
    private static boolean refused(JWSAlgorithm alg) {
        return JWSAlgorithm.Family.HMAC_SHA.contains(alg) || "none".equalsIgnoreCase(alg.getName());
    }

    /**
     * What {@link #check} found: a failure with its description, or the claims of a token that
     * passed. Immutable; the results of a repeated token are one object.
     */
    public static final class Result {
        private final Failure failure;
        private final String description;
        private final Map<String, String> claims;
        private final Map<String, String> forwardedHeaders;

        private Result(Failure failure, String description, Map<String, String> claims,
                       Map<String, String> forwardedHeaders) {
            this.failure = failure;
            this.description = description;
            this.claims = claims;
            this.forwardedHeaders = forwardedHeaders;
        }

        static Result failed(Failure failure, String description) {
            return new Result(failure, description, Map.of(), Map.of());
        }

        /**
         * The scalar claims as text, and the configured ones forwarded whose text can go into a
         * header field as is: visible ASCII, spaces and tabs (RFC 9110 §5.5). Others are left out
         * rather than encoded, so a backend never sees a value the token did not have.
         */
        static Result verified(JWTClaimsSet claimsSet, Map<String, String> forwardClaims) {
            Map<String, String> claims = new HashMap<>();
            for (Map.Entry<String, Object> claim : claimsSet.getClaims().entrySet()) {
                String text = text(claim.getKey(), claim.getValue());
                if (text != null) {
                    claims.put(claim.getKey(), text);
                }
            }
            Map<String, String> headers = new LinkedHashMap<>();
            forwardClaims.forEach((claim, header) -> {
                String value = claims.get(claim);
                if (value != null && value.chars().allMatch(c -> c == '\t' || (c >= ' ' && c < 0x7f))) {
                    headers.put(header, value);
                }
            });
            return new Result(null, null, Map.copyOf(claims), Collections.unmodifiableMap(headers));
        }

        public boolean ok() {
            return failure == null;
        }

        /** {@code null} when {@link #ok()}. */
        public Failure failure() {
            return failure;
        }

        /**
         * A few words on the failure, fixed text (never from the token): printable ASCII without
         * quotes or backslashes, fit for {@code error_description} (RFC 6750 §3). {@code null} when
         * {@link #ok()}.
         */
        public String description() {
            return description;
        }

        /**
         * A claim of a token that passed, as text: a string as it is, a number or boolean as JSON
         * writes it, {@code exp}/{@code nbf}/{@code iat} in seconds; {@code null} when absent, not
         * a scalar, or the token did not pass. An {@code aud} of one value counts as that value.
         */
        public String claim(String name) {
            return claims.get(name);
        }

        /** Header field name to claim value, for the configured claims the token has; empty unless ok. */
        public Map<String, String> forwardedHeaders() {
            return forwardedHeaders;
        }

        @Override
        public String toString() {
            return ok() ? "ok " + claims : failure + " (" + description + ")";
        }

        private static String text(String name, Object value) {
            if (value instanceof String s) {
                return s;
            } else if (value instanceof Boolean || value instanceof Long || value instanceof Integer) {
                return value.toString();
            } else if (value instanceof Double d) {
                return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString(d.longValue()) : d.toString();
            } else if (value instanceof Date date) {
                return Long.toString(Math.floorDiv(date.getTime(), 1000));
            } else if (value instanceof List<?> list && list.size() == 1 && name.equals("aud")) {
                return text(name, list.get(0)); // nimbus keeps even a single aud as a list
            }
            return null;
        }
    }
}
