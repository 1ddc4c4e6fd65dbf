using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AkiDb.Queue.Broker;

/// <summary>
/// Decides whether the broker's certificate is accepted, and remembers why the last one was not, so a refused
/// connection is reported as one line with the reason instead of .NET's "rejected by the provided callback".
/// </summary>
/// <remarks>
/// Both checks always apply: the chain must lead to a trusted root (the platform's store, which honours
/// <c>SSL_CERT_FILE</c>, or the CA file) and the certificate must carry the server name. RabbitMQ.Client alone would
/// accept any name for an <c>amqps://</c> URL, and MassTransit any chain; neither is left to its default.
/// </remarks>
public sealed class BrokerTrust
{
    private readonly X509Certificate2Collection? _authorities;
    private readonly string _caFileKey;
    private string? _lastRejection;

    internal BrokerTrust(X509Certificate2Collection? authorities, X509Certificate2? clientCertificate, string caFileKey)
    {
        _authorities = authorities;
        ClientCertificate = clientCertificate;
        _caFileKey = caFileKey;
    }

    /// <summary>
    /// The same checks for another TLS server (Redis): the platform store and <c>SSL_CERT_FILE</c>, plus the CA in
    /// <paramref name="caFile"/> when set; <see cref="BrokerSettingsException"/> naming <paramref name="caFileKey"/> when it is unusable.
    /// </summary>
    public static BrokerTrust ForCaFile(string? caFile, string caFileKey)
    {
        if (string.IsNullOrWhiteSpace(caFile))
        {
            return new BrokerTrust(null, null, caFileKey);
        }

        if (!File.Exists(caFile))
        {
            throw new BrokerSettingsException([$"{caFileKey}: file '{BrokerConnectionSettings.Shown(caFile)}' does not exist (or is not readable by this user)."]);
        }

        var (authorities, error) = LoadCaFile(caFile, caFileKey);
        return error is null ? new BrokerTrust(authorities, null, caFileKey) : throw new BrokerSettingsException([error]);
    }

    /// <summary>The client certificate (with its key) presented for mutual TLS, if any.</summary>
    public X509Certificate2? ClientCertificate { get; }

    /// <summary>Why the last broker certificate was refused; null when none was.</summary>
    public string? LastRejection => Volatile.Read(ref _lastRejection);

    /// <summary>The validation callback for every TLS connection to the broker.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var serverName = (sender as SslStream)?.TargetHostName;
        var reason = Check(certificate, chain, errors, serverName);
        if (reason is not null)
        {
            Volatile.Write(ref _lastRejection, reason);
        }

        return reason is null;
    }

    private string? Check(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, string? serverName)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return "the broker presented no certificate";
        }

        using var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return $"its certificate ({Describe(presented)}) is not valid for the name '{serverName}': connect by a name the certificate lists, or set the name to verify";
        }

        if (!errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            return null;
        }

        var platformStatus = Status(chain);
        if (_authorities is null)
        {
            return $"its certificate ({Describe(presented)}) is not trusted ({platformStatus}): trust the CA that signed it with {_caFileKey} or SSL_CERT_FILE";
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        // Intermediates the broker sent along.
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return custom.Build(presented)
            ? null
            : $"its certificate ({Describe(presented)}) is not signed by the CA in {_caFileKey} nor trusted by the platform ({Status(custom)})";
    }

    private static string Describe(X509Certificate2 certificate) =>
        $"subject '{certificate.Subject}', issuer '{certificate.Issuer}', valid until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}";

    private static string Status(X509Chain? chain) =>
        chain is null || chain.ChainStatus.Length == 0
            ? "chain not valid"
            : string.Join("; ", chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}").Distinct());

    /// <summary>The certificates of a PEM CA file, or why they cannot be used (naming <paramref name="key"/>).</summary>
    internal static (X509Certificate2Collection? Authorities, string? Error) LoadCaFile(string file, string key)
    {
        try
        {
            var authorities = new X509Certificate2Collection();
            authorities.ImportFromPemFile(file);
            return authorities.Count == 0
                ? (null, $"{key}: file '{BrokerConnectionSettings.Shown(file)}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).")
                : (authorities, null);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            return (null, $"{key}: file '{BrokerConnectionSettings.Shown(file)}' cannot be read as PEM certificates ({e.Message.Trim()}).");
        }
    }

    /// <summary>The client certificate with its private key, or why it cannot be used (naming <paramref name="key"/>).</summary>
    internal static (X509Certificate2? Certificate, string? Error) LoadClientCertificate(string certificateFile, string? keyFile, string key)
    {
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certificateFile, string.IsNullOrWhiteSpace(keyFile) ? null : keyFile);
            // A PEM key is ephemeral; a PKCS#12 round trip gives a certificate every platform's TLS stack can sign with.
            return (X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null), null);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            return (null, $"{key}: '{BrokerConnectionSettings.Shown(certificateFile)}' with its key cannot be loaded as a PEM certificate and unencrypted PEM private key ({e.Message.Trim()}).");
        }
    }
}
