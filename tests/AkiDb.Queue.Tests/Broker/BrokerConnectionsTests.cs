using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AkiDb.Queue.Broker;
using AkiDb.Queue.Cli.Broker;
using AkiDb.Queue.Worker.Messaging;

namespace AkiDb.Queue.Tests;

public sealed class BrokerConnectionsTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("akidb-broker-tests-");

    [Fact]
    public void Amqps_verifies_the_chain_and_the_name_of_every_node_and_amqp_has_no_tls()
    {
        var tls = BrokerConnections.Create(new BrokerConnectionSettings { Url = "amqps://u:p@rabbit:5671/v", ClusterNodes = "r1:5681,r2" }, RabbitMqOptions.Key);
        var endpoints = tls.CreateEndpoints();

        Assert.Equal(["r1:5681", "r2:5671"], endpoints.Select(e => $"{e.HostName}:{e.Port}"));
        Assert.All(endpoints, e => Assert.True(e.Ssl.Enabled));
        Assert.All(endpoints, e => Assert.Equal(SslPolicyErrors.None, e.Ssl.AcceptablePolicyErrors));
        Assert.All(endpoints, e => Assert.NotNull(e.Ssl.CertificateValidationCallback));
        Assert.Equal(["r1", "r2"], endpoints.Select(e => e.Ssl.ServerName));

        var plain = BrokerConnections.Create(new BrokerConnectionSettings { Url = "rabbitmq://u:p@rabbit/v" }, RabbitMqOptions.Key);
        Assert.Equal("amqp", plain.Url.Scheme);
        Assert.Equal(["rabbit:5672"], plain.Nodes);
        Assert.False(plain.CreateEndpoints()[0].Ssl.Enabled);
    }

    [Fact]
    public void A_set_server_name_is_verified_on_every_node_and_the_factory_takes_heartbeat_and_timeout()
    {
        var connections = BrokerConnections.Create(new BrokerConnectionSettings
        {
            Url = "amqps://u:p@10.0.0.1/", TlsServerName = "rabbit.internal", Heartbeat = TimeSpan.FromSeconds(7), ConnectionTimeout = TimeSpan.FromSeconds(3),
        }, RabbitMqOptions.Key);
        var factory = connections.CreateFactory("test");

        Assert.Equal("rabbit.internal", Assert.Single(connections.CreateEndpoints()).Ssl.ServerName);
        Assert.Equal(TimeSpan.FromSeconds(7), factory.RequestedHeartbeat);
        Assert.Equal(TimeSpan.FromSeconds(3), factory.RequestedConnectionTimeout);
        Assert.Equal(SslPolicyErrors.None, factory.Ssl.AcceptablePolicyErrors);
    }

    [Fact]
    public void Every_problem_names_its_key_in_the_worker_and_in_the_cli()
    {
        var settings = new BrokerConnectionSettings
        {
            Url = "amqps://u:secret@rabbit/", CaFile = Path.Combine(_folder.FullName, "missing-ca.pem"), ClientCertificateFile = Path.Combine(_folder.FullName, "missing.pem"),
        };

        var worker = settings.Validate(RabbitMqOptions.Key).ToList();
        var cli = settings.Validate(BrokerSettings.Key).ToList();

        Assert.Contains(worker, p => p.StartsWith("RabbitMq:CaFile: file '", StringComparison.Ordinal) && p.Contains("does not exist", StringComparison.Ordinal));
        Assert.Contains(worker, p => p.StartsWith("RabbitMq:ClientCertificateFile is set without RabbitMq:ClientKeyFile", StringComparison.Ordinal));
        Assert.Contains(cli, p => p.StartsWith("--ca-file (RabbitMq__CaFile): file '", StringComparison.Ordinal));
        Assert.All(worker.Concat(cli), p => Assert.DoesNotContain("secret", p, StringComparison.Ordinal));
        Assert.Throws<BrokerSettingsException>(() => BrokerConnections.Create(settings, RabbitMqOptions.Key));
    }

    [Fact]
    public void A_ca_file_that_is_no_certificate_and_certificates_over_plain_amqp_are_refused()
    {
        var notPem = Path.Combine(_folder.FullName, "ca.pem");
        File.WriteAllText(notPem, "not a certificate");

        Assert.Contains(new BrokerConnectionSettings { Url = "amqps://h/", CaFile = notPem }.Validate(RabbitMqOptions.Key),
            p => p.StartsWith("RabbitMq:CaFile: file '", StringComparison.Ordinal) && p.Contains("holds no PEM certificate", StringComparison.Ordinal));
        Assert.Contains(new BrokerConnectionSettings { Url = "amqp://h/", CaFile = notPem }.Validate(RabbitMqOptions.Key),
            p => p.StartsWith("RabbitMq:CaFile is set but RabbitMq:Url is not amqps://", StringComparison.Ordinal));
    }

    [Fact]
    public void The_ca_file_admits_its_own_certificates_and_the_reason_of_a_refusal_is_kept()
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=unit-test-ca", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var server = serverRequest.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(12), [1, 2, 3, 4]);
        var caFile = Path.Combine(_folder.FullName, "ca.pem");
        File.WriteAllText(caFile, ca.ExportCertificatePem());

        var trusting = BrokerConnections.Create(new BrokerConnectionSettings { Url = "amqps://h/", CaFile = caFile }, RabbitMqOptions.Key).Trust;
        var platformOnly = BrokerConnections.Create(new BrokerConnectionSettings { Url = "amqps://h/" }, RabbitMqOptions.Key).Trust;

        Assert.True(trusting.Validate(this, server, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Null(trusting.LastRejection);
        Assert.False(trusting.Validate(this, server, null, SslPolicyErrors.RemoteCertificateNameMismatch));
        Assert.Contains("is not valid for the name", trusting.LastRejection, StringComparison.Ordinal);
        Assert.False(platformOnly.Validate(this, server, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Contains("not trusted", platformOnly.LastRejection, StringComparison.Ordinal);
        Assert.Contains("RabbitMq:CaFile", platformOnly.LastRejection, StringComparison.Ordinal);
    }

    [Fact]
    public void A_client_certificate_without_a_password_in_the_url_is_the_login()
    {
        using var key = RSA.Create(2048);
        using var certificate = new CertificateRequest("CN=akidb-worker", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var certFile = Path.Combine(_folder.FullName, "client.pem");
        var keyFile = Path.Combine(_folder.FullName, "client.key");
        File.WriteAllText(certFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());

        var external = BrokerConnections.Create(new BrokerConnectionSettings { Url = "amqps://h/", ClientCertificateFile = certFile, ClientKeyFile = keyFile }, RabbitMqOptions.Key);
        var withPassword = BrokerConnections.Create(new BrokerConnectionSettings { Url = "amqps://u:p@h/", ClientCertificateFile = certFile, ClientKeyFile = keyFile }, RabbitMqOptions.Key);

        Assert.True(external.ExternalLogin);
        Assert.True(external.Trust.ClientCertificate!.HasPrivateKey);
        Assert.Equal("EXTERNAL", Assert.Single(external.CreateFactory("t").AuthMechanisms).Name);
        Assert.False(withPassword.ExternalLogin);
        Assert.NotNull(Assert.Single(external.CreateEndpoints()).Ssl.Certs);
    }

    /// <summary>
    /// A frozen node: its kernel completes the TCP handshake, the node never sends AMQP's connection.start. Without a
    /// token (as MassTransit connects) the attempt must still end, give that node up and say so.
    /// </summary>
    [Fact]
    public async Task A_node_that_takes_the_connection_and_says_nothing_is_given_up_and_the_attempt_ends()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var connections = BrokerConnections.Create(new BrokerConnectionSettings
        {
            Url = $"amqp://u:p@127.0.0.1:{port}/", ClusterNodes = $"127.0.0.1:{port},127.0.0.2:{port}", ConnectionTimeout = TimeSpan.FromSeconds(1),
        }, RabbitMqOptions.Key);
        var silentNodes = new List<string>();
        connections.NodeSilent += silentNodes.Add;
        var accepted = silent.AcceptSocketAsync();

        var attempt = connections.ConnectAsync("test", CancellationToken.None);
        // Only a guard against the hang this test is about; the attempt ends after the 1 s connection timeout.
        var finished = await Task.WhenAny(attempt, Task.Delay(TimeSpan.FromMinutes(2)));

        Assert.Same(attempt, finished);
        await Assert.ThrowsAnyAsync<Exception>(() => attempt);
        using var socket = await accepted;
        Assert.Equal([$"127.0.0.1:{port}"], silentNodes);
        // The next attempt starts with the other node.
        var factory = connections.CreateFactory("next");
        Assert.Equal($"127.0.0.2:{port}", factory.EndpointResolverFactory([]).All().Select(e => $"{e.HostName}:{e.Port}").First());
    }

    public void Dispose() => _folder.Delete(recursive: true);
}
