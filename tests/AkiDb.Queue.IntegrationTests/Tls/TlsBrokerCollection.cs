using AkiDb.Queue.Testing;

namespace AkiDb.Queue.IntegrationTests.Tls;

/// <summary>The TLS-only broker the TLS tests share.</summary>
[CollectionDefinition(Name)]
public sealed class TlsBrokerCollection : ICollectionFixture<TlsBrokerFixture>
{
    public const string Name = "tls-broker";
}
