using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Messaging;
using AkiDb.Queue.Worker.Requests;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Tests;

public sealed class RequestValidatorTests
{
    private readonly RequestValidator _validator = new(Options.Create(new LimitsOptions
    {
        MaxTextsPerMessage = 4, MaxCharsPerText = 20, MaxMessageBytes = 2048, MaxRequestIdLength = 10, MaxMetadataEntries = 2, MaxMetadataValueLength = 8,
    }));

    [Fact]
    public void A_well_formed_request_passes() =>
        Assert.Null(_validator.Validate(new EmbedRequested { RequestId = "r1", Texts = ["hello"], InputType = "query", Metadata = new Dictionary<string, string> { ["k"] = "v" } }, 100));

    public static TheoryData<EmbedRequested, long?, string, int?> Refusals => new()
    {
        { new EmbedRequested { Texts = ["a"] }, 10, EmbedErrorCodes.InvalidRequest, null },
        { new EmbedRequested { RequestId = "  ", Texts = ["a"] }, 10, EmbedErrorCodes.InvalidRequest, null },
        { new EmbedRequested { RequestId = "r1" }, 10, EmbedErrorCodes.InvalidRequest, null },
        { new EmbedRequested { RequestId = "r1", Texts = [] }, 10, EmbedErrorCodes.InvalidRequest, null },
        { new EmbedRequested { RequestId = "r1", Texts = ["a", null] }, 10, EmbedErrorCodes.InvalidRequest, 1 },
        { new EmbedRequested { RequestId = "r1", Texts = ["a", "b", ""] }, 10, EmbedErrorCodes.InvalidRequest, 2 },
        { new EmbedRequested { RequestId = "r1", Texts = [" \n\t "] }, 10, EmbedErrorCodes.InvalidRequest, 0 },
        { new EmbedRequested { RequestId = "r1", Texts = ["a", "b", "c", "d", "e"] }, 10, EmbedErrorCodes.TooManyTexts, null },
        { new EmbedRequested { RequestId = "r1", Texts = ["ok", new string('x', 21)] }, 10, EmbedErrorCodes.TextTooLong, 1 },
        { new EmbedRequested { RequestId = "r1", Texts = ["a"] }, 4096, EmbedErrorCodes.MessageTooLarge, null },
        { new EmbedRequested { RequestId = "0123456789x", Texts = ["a"] }, 10, EmbedErrorCodes.InvalidRequest, null },
        { new EmbedRequested { RequestId = "r1", Texts = ["a"], InputType = "passage" }, 10, EmbedErrorCodes.InvalidRequest, null },
        { new EmbedRequested { RequestId = "r1", Texts = ["a"], Metadata = new Dictionary<string, string> { ["a"] = "1", ["b"] = "2", ["c"] = "3" } }, 10, EmbedErrorCodes.InvalidRequest, null },
        { new EmbedRequested { RequestId = "r1", Texts = ["a"], Metadata = new Dictionary<string, string> { ["a"] = "123456789" } }, 10, EmbedErrorCodes.InvalidRequest, null },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Each_broken_rule_has_its_code_and_names_the_text_at_fault(EmbedRequested request, long? bodyBytes, string code, int? index)
    {
        var failure = _validator.Validate(request, bodyBytes);

        Assert.NotNull(failure);
        Assert.Equal(code, failure.Code);
        Assert.Equal(index, failure.TextIndex);
        Assert.False(string.IsNullOrWhiteSpace(failure.Message));
    }

    [Fact]
    public void A_refusal_echoes_the_request_id_and_metadata()
    {
        var metadata = new Dictionary<string, string> { ["doc"] = "7" };
        var failure = _validator.Validate(new EmbedRequested { RequestId = "r9", Texts = [], Metadata = metadata }, 10)!;

        Assert.Equal("r9", failure.RequestId);
        Assert.Same(metadata, failure.Metadata);
    }

    [Fact]
    public void An_overlong_request_id_is_not_echoed()
    {
        var failure = _validator.Validate(new EmbedRequested { RequestId = new string('r', 50), Texts = ["a"] }, 10)!;
        Assert.Null(failure.RequestId);
    }
}
