import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.HexFormat;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Makes two TLS 1.2 connections to host:port, each sending GET / and
 * reading the reply, and prints whether the second resumed the first
 * session. Run with -Djdk.tls.client.enableSessionTicketExtension=false so
 * the only way to resume is by Session ID. Trusts any certificate: the
 * gateway under test uses a self-signed one.
 */
public class ResumeHTTP {
    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        TrustManager[] trustAll = {new X509TrustManager() {
            public void checkClientTrusted(X509Certificate[] c, String a) {}
            public void checkServerTrusted(X509Certificate[] c, String a) {}
            public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
        }};
        SSLContext ctx = SSLContext.getInstance("TLSv1.2");
        ctx.init(null, trustAll, null);
        byte[][] ids = new byte[2][];
        for (int i = 0; i < 2; i++) {
            try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(host, port)) {
                s.setSoTimeout(10_000);
                s.setEnabledProtocols(new String[] {"TLSv1.2"});
                s.startHandshake();
                SSLSession sess = s.getSession();
                ids[i] = sess.getId();
                OutputStream out = s.getOutputStream();
                out.write(("GET / HTTP/1.0\r\nHost: " + host + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                InputStream in = s.getInputStream();
                String reply = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
                System.out.printf("connection %d: protocol=%s session-id=%s status=%s%n", i + 1, sess.getProtocol(),
                        HexFormat.of().formatHex(ids[i]), reply.lines().findFirst().orElse(""));
            }
            Thread.sleep(200); // the gateway stores the session after the handshake, asynchronously
        }
        boolean resumed = ids[0].length > 0 && Arrays.equals(ids[0], ids[1]);
        System.out.println("resumed=" + resumed);
    }
}
