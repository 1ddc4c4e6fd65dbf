using CliWrap;
using CliWrap.Buffered;

namespace AkiDb.Queue.Testing;

/// <summary>
/// A private certificate authority made with <c>openssl</c> in a temporary folder (as an operator would make one), and
/// the certificates it signs: a server certificate for <c>localhost</c> and <c>127.0.0.1</c>, and client certificates
/// whose common name is a broker user (for SASL EXTERNAL). Deleted with this object.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly string _directory;

    private TestCertificates(string directory, string name)
    {
        _directory = directory;
        CaFile = Path.Combine(directory, $"{name}-ca.pem");
        CaKeyFile = Path.Combine(directory, $"{name}-ca.key");
    }

    /// <summary>The CA's certificate (PEM): what a client trusts.</summary>
    public string CaFile { get; }

    private string CaKeyFile { get; }

    public string Directory => _directory;

    public static async Task<TestCertificates> CreateAsync(string name)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory($"akidb-certs-{name}-").FullName;
        var certificates = new TestCertificates(directory, name);
        try
        {
            await OpenSslAsync(directory, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", certificates.CaKeyFile, "-out", certificates.CaFile,
                "-days", "2", "-subj", $"/CN=akidb-test-ca-{name}");
            return certificates;
        }
        catch
        {
            certificates.Dispose();
            throw;
        }
    }

    /// <summary>A server certificate for <c>localhost</c> and <c>127.0.0.1</c> (or the given names), signed by this CA.</summary>
    public Task<(string CertificateFile, string KeyFile)> IssueServerAsync(string name = "server", params string[] subjectAltNames) =>
        IssueAsync(name, "localhost", $"subjectAltName={string.Join(',', subjectAltNames.Length > 0 ? subjectAltNames : ["DNS:localhost", "IP:127.0.0.1"])}\n" +
                                      "extendedKeyUsage=serverAuth\n");

    /// <summary>A client certificate whose common name is <paramref name="commonName"/> (the broker user it logs in as with EXTERNAL).</summary>
    public Task<(string CertificateFile, string KeyFile)> IssueClientAsync(string commonName) =>
        IssueAsync($"client-{commonName}", commonName, "extendedKeyUsage=clientAuth\n");

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<(string CertificateFile, string KeyFile)> IssueAsync(string name, string commonName, string extensions)
    {
        var key = Path.Combine(_directory, $"{name}.key");
        var request = Path.Combine(_directory, $"{name}.csr");
        var certificate = Path.Combine(_directory, $"{name}.pem");
        var extensionFile = Path.Combine(_directory, $"{name}.ext");
        await File.WriteAllTextAsync(extensionFile, extensions);
        await OpenSslAsync(_directory, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", $"/CN={commonName}");
        await OpenSslAsync(_directory, "x509", "-req", "-in", request, "-CA", CaFile, "-CAkey", CaKeyFile, "-CAcreateserial", "-out", certificate,
            "-days", "2", "-sha256", "-extfile", extensionFile);
        return (certificate, key);
    }

    private static async Task OpenSslAsync(string directory, params string[] arguments)
    {
        var result = await Cli.Wrap("openssl").WithArguments(arguments).WithWorkingDirectory(directory)
            .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync();
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"openssl {string.Join(' ', arguments)} failed ({result.ExitCode}): {result.StandardError.Trim()}");
        }
    }
}
