import java.io.InputStream;
import java.util.Arrays;
import java.util.HexFormat;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * Connects twice with TLS 1.2 to host:port and reports whether the second
 * connection resumed the first session. Session tickets are expected to be
 * off (-Djdk.tls.client.enableSessionTicketExtension=false), so resumption
 * can only be by Session ID. The server is trusted through the default
 * trust store (-Djavax.net.ssl.trustStore=...).
 *
 * Prints one "connection N:" line per connection and a final
 * "resumed=true|false" line; exits 0 if both handshakes completed.
 */
public class Resume {
    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        // One context: its client session cache is what resumption uses.
        SSLSocketFactory factory = SSLContext.getDefault().getSocketFactory();
        SSLSession[] sessions = new SSLSession[2];
        for (int i = 0; i < 2; i++) {
            try (SSLSocket socket = (SSLSocket) factory.createSocket(host, port)) {
                socket.setSoTimeout(10_000);
                socket.setEnabledProtocols(new String[] {"TLSv1.2"});
                socket.startHandshake();
                SSLSession s = socket.getSession();
                sessions[i] = s;
                InputStream in = socket.getInputStream();
                byte[] reply = in.readNBytes(3);
                System.out.printf("connection %d: protocol=%s cipher=%s session-id=%s created=%d reply=%s%n",
                        i + 1, s.getProtocol(), s.getCipherSuite(), HexFormat.of().formatHex(s.getId()),
                        s.getCreationTime(), new String(reply, "US-ASCII").trim());
            }
        }
        byte[] first = sessions[0].getId();
        boolean resumed = first.length > 0
                && Arrays.equals(first, sessions[1].getId())
                && sessions[0].getCreationTime() == sessions[1].getCreationTime();
        System.out.println("resumed=" + resumed);
    }
}
