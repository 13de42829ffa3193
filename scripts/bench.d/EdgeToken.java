import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Date;

/**
 * For the bench's ours-edge: writes a JWKS with one new RSA 2048 key to the file named by the
 * first argument and prints an RS256 token signed with it (issuer https://bench.test, audience
 * bench, subject bench, valid for a day). Compiled and run against proxy.jar, which carries
 * nimbus-jose-jwt.
 */
public final class EdgeToken {
    public static void main(String[] args) throws Exception {
        RSAKey key = new RSAKeyGenerator(2048).keyID("bench").generate();
        Files.writeString(Path.of(args[0]), new JWKSet(key.toPublicJWK()).toString());
        JWTClaimsSet claims = new JWTClaimsSet.Builder().issuer("https://bench.test").audience("bench").subject("bench")
                .expirationTime(new Date(System.currentTimeMillis() + 86_400_000L)).build();
        SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).keyID("bench").build(), claims);
        jwt.sign(new RSASSASigner(key));
        System.out.println(jwt.serialize());
    }
}
