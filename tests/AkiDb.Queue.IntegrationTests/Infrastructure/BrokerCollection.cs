using AkiDb.Queue.Testing;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>The one broker all integration tests share (xunit finds collection definitions only in the test assembly).</summary>
[CollectionDefinition(Name)]
public sealed class BrokerCollection : ICollectionFixture<BrokerFixture>
{
    public const string Name = "broker";
}
