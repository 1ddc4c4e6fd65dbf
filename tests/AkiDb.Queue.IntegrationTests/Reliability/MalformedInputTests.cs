using System.Text;
using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Reliability;

/// <summary>
/// A corpus of broken and awkward inputs. Each has one specific, expected outcome; none crashes or blocks the worker,
/// and a good message after the whole corpus is answered.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class MalformedInputTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private enum Outcome
    {
        Completed,
        Failed,
        ErrorQueueOnly,
        FailedAndErrorQueue,
    }

    private sealed record Case(string Name, byte[] Body, Outcome Outcome, string? Code = null, bool WithContentType = true)
    {
        public static Case Json(string name, string body, Outcome outcome, string? code = null) => new(name, Encoding.UTF8.GetBytes(body), outcome, code);

        public static Case Of(string name, object body, Outcome outcome, string? code = null) => new(name, JsonSerializer.SerializeToUtf8Bytes(body), outcome, code);
    }

    private static IEnumerable<Case> Corpus()
    {
        // Not JSON, or not an object: no request id can be read, so the error queue (with the exception) is the answer.
        yield return new Case("plain text", "hello there"u8.ToArray(), Outcome.ErrorQueueOnly, WithContentType: false);
        // An empty body reads as an object with no fields, like {}: an EmbedFailed without a request id (README).
        yield return new Case("empty body", [], Outcome.Failed, "invalid_request");
        yield return Case.Json("JSON array", "[]", Outcome.ErrorQueueOnly);
        yield return Case.Json("JSON string", "\"texts\"", Outcome.ErrorQueueOnly);
        yield return Case.Json("JSON number", "42", Outcome.ErrorQueueOnly);
        yield return Case.Json("truncated JSON without id", "{\"texts\":[\"a\"", Outcome.ErrorQueueOnly);
        yield return Case.Json("request id of the wrong type", "{\"requestId\":123,\"texts\":[\"a\"]}", Outcome.ErrorQueueOnly);

        // JSON with the wrong types: answered as malformed_message and kept in the error queue.
        yield return Case.Json("texts is a string", "{\"requestId\":\"c-texts-string\",\"texts\":\"abc\"}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("texts is an object", "{\"requestId\":\"c-texts-object\",\"texts\":{\"a\":\"b\"}}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("numbers in texts", "{\"requestId\":\"c-numbers\",\"texts\":[1,2]}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("booleans in texts", "{\"requestId\":\"c-bools\",\"texts\":[true]}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("objects in texts", "{\"requestId\":\"c-objects\",\"texts\":[{\"text\":\"a\"}]}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("nested lists in texts", "{\"requestId\":\"c-nested\",\"texts\":[[\"a\"]]}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("model is a number", "{\"requestId\":\"c-model-number\",\"texts\":[\"a\"],\"model\":7}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("priority is a number", "{\"requestId\":\"c-priority-number\",\"texts\":[\"a\"],\"priority\":9}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("metadata value is a number", "{\"requestId\":\"c-meta-number\",\"texts\":[\"a\"],\"metadata\":{\"k\":1}}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("metadata is a string", "{\"requestId\":\"c-meta-string\",\"texts\":[\"a\"],\"metadata\":\"x\"}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("deeply nested JSON", "{\"requestId\":\"c-deep\",\"texts\":[\"a\"],\"x\":" + new string('[', 5000) + new string(']', 5000) + "}", Outcome.FailedAndErrorQueue, "malformed_message");
        yield return new Case("invalid UTF-8 in a text", [.. "{\"requestId\":\"c-utf8\",\"texts\":[\""u8, 0xFF, 0xFE, .. "\"]}"u8], Outcome.FailedAndErrorQueue, "malformed_message");
        yield return new Case("raw control character in a text", [.. "{\"requestId\":\"c-raw-control\",\"texts\":[\"a"u8, 0x01, .. "b\"]}"u8], Outcome.FailedAndErrorQueue, "malformed_message");
        yield return Case.Json("truncated JSON with id", "{\"requestId\":\"c-truncated\",\"texts\":[\"a\",", Outcome.FailedAndErrorQueue, "malformed_message");

        // Well-formed JSON that breaks the contract: answered with a specific code.
        yield return Case.Json("empty object", "{}", Outcome.Failed, "invalid_request");
        yield return Case.Json("missing texts", "{\"requestId\":\"c-no-texts\"}", Outcome.Failed, "invalid_request");
        yield return Case.Json("null texts", "{\"requestId\":\"c-null-texts\",\"texts\":null}", Outcome.Failed, "invalid_request");
        yield return Case.Json("empty texts", "{\"requestId\":\"c-empty-texts\",\"texts\":[]}", Outcome.Failed, "invalid_request");
        yield return Case.Json("null text", "{\"requestId\":\"c-null-text\",\"texts\":[\"a\",null]}", Outcome.Failed, "invalid_request");
        yield return Case.Json("empty string", "{\"requestId\":\"c-empty-string\",\"texts\":[\"\"]}", Outcome.Failed, "invalid_request");
        yield return Case.Json("whitespace text", "{\"requestId\":\"c-whitespace\",\"texts\":[\" \\n\\t \"]}", Outcome.Failed, "invalid_request");
        yield return Case.Json("zero-width characters only", "{\"requestId\":\"c-zero-width\",\"texts\":[\"\\u200b\\u200c\\u200d\\ufeff\"]}", Outcome.Failed, "invalid_request");
        yield return Case.Json("NULs only", "{\"requestId\":\"c-nuls\",\"texts\":[\"\\u0000\\u0000\"]}", Outcome.Failed, "invalid_request");
        yield return Case.Json("control characters only", "{\"requestId\":\"c-controls\",\"texts\":[\"\\u0001\\u001b\\u007f \\t\"]}", Outcome.Failed, "invalid_request");
        yield return Case.Json("blank request id", "{\"requestId\":\"  \",\"texts\":[\"a\"]}", Outcome.Failed, "invalid_request");
        yield return Case.Of("overlong request id", new { requestId = new string('r', 300), texts = new[] { "a" } }, Outcome.Failed, "invalid_request");
        yield return Case.Json("unknown input type", "{\"requestId\":\"c-input-type\",\"texts\":[\"a\"],\"inputType\":\"passage\"}", Outcome.Failed, "invalid_request");
        yield return Case.Json("unknown model", "{\"requestId\":\"c-model\",\"texts\":[\"a\"],\"model\":\"gpt-17\"}", Outcome.Failed, "unknown_model");
        yield return Case.Of("huge list", new { requestId = "c-huge-list", texts = Enumerable.Repeat("x", 300).ToArray() }, Outcome.Failed, "too_many_texts");
        yield return Case.Of("huge text", new { requestId = "c-huge-text", texts = new[] { new string('a', 60_000) } }, Outcome.Failed, "text_too_long");
        yield return Case.Of("huge message", new { requestId = "c-huge-message", texts = Enumerable.Repeat(new string('b', 40_000), 200).ToArray() }, Outcome.Failed, "message_too_large");
        yield return Case.Of("too much metadata", new { requestId = "c-metadata", texts = new[] { "a" }, metadata = Enumerable.Range(0, 100).ToDictionary(i => $"k{i}", i => "v") }, Outcome.Failed, "invalid_request");

        // Awkward but valid: answered with vectors.
        yield return Case.Json("escaped control characters", "{\"requestId\":\"c-escaped-control\",\"texts\":[\"a\\u0000b\\u0007c\"]}", Outcome.Completed);
        yield return Case.Of("emoji only", new { requestId = "c-emoji", texts = new[] { "🙂🎉🚀" } }, Outcome.Completed);
        yield return Case.Of("one 10,000-character word", new { requestId = "c-long-word", texts = new[] { new string('x', 10_000) } }, Outcome.Completed);
        yield return Case.Of("text over the token limit", new { requestId = "c-truncated-text", texts = new[] { string.Concat(Enumerable.Repeat("word ", 3000)) } }, Outcome.Completed);
        // RFC 8259 lets a parser ignore a UTF-8 byte-order mark; the worker does.
        yield return new Case("byte order mark", [0xEF, 0xBB, 0xBF, .. "{\"requestId\":\"c-bom\",\"texts\":[\"a\"]}"u8], Outcome.Completed);
        yield return new Case("byte order mark, no content type", [0xEF, 0xBB, 0xBF, .. "{\"requestId\":\"c-bom-plain\",\"texts\":[\"a\"]}"u8], Outcome.Completed, WithContentType: false);
        yield return Case.Json("PascalCase", "{\"RequestId\":\"c-pascal\",\"Texts\":[\"a\"]}", Outcome.Completed);
        yield return Case.Json("unknown extra fields", "{\"requestId\":\"c-extra\",\"texts\":[\"a\"],\"rank\":9,\"tags\":[1,2]}", Outcome.Completed);
        yield return Case.Json("explicit nulls for optional fields", "{\"requestId\":\"c-nulls\",\"texts\":[\"a\"],\"model\":null,\"metadata\":null,\"inputType\":null}", Outcome.Completed);
        yield return Case.Of("mixed scripts", new { requestId = "c-scripts", texts = new[] { "日本語のテキスト", "Ελληνικά κείμενα", "نص عربي", "Текст" } }, Outcome.Completed);
    }

    [Fact]
    public async Task Every_case_in_the_corpus_gets_its_specific_outcome_and_the_worker_keeps_answering()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("corpus");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?>
        {
            ["Limits:MaxMessageBytes"] = "1048576",
            ["Limits:MaxTextsPerMessage"] = "256",
            ["Limits:MaxCharsPerText"] = "50000",
        });

        var corpus = Corpus().ToList();
        Assert.True(corpus.Count >= 30, $"the corpus has {corpus.Count} cases");
        var problems = new List<string>();
        foreach (var c in corpus)
        {
            var resultsBefore = results.Results.Count;
            var errorsBefore = results.Errors.Count;
            await results.PublishAsync(c.Body, c.WithContentType);
            // A good message after each case shows the worker still answers; the case's own result can come before or after it.
            var marker = $"marker-after-{corpus.IndexOf(c)}";
            await results.PublishAsync(ResultCollector.Request(marker, "marker"));
            var expectedResults = c.Outcome == Outcome.ErrorQueueOnly ? 1 : 2;
            if (!await results.WaitForAsync(resultsBefore + expectedResults, Patience))
            {
                problems.Add($"{c.Name}: {results.Results.Count - resultsBefore} results arrived, expected {expectedResults}");
            }

            if (results.Results.FirstOrDefault(r => r.RequestId == marker) is not { IsCompleted: true })
            {
                problems.Add($"{c.Name}: the good message after it was not completed");
            }

            if (c.Outcome is Outcome.ErrorQueueOnly or Outcome.FailedAndErrorQueue && !await results.WaitForErrorsAsync(errorsBefore + 1, Patience))
            {
                problems.Add($"{c.Name}: nothing arrived in the error queue");
            }

            var caseResults = results.Results.Skip(resultsBefore).Where(r => r.RequestId != marker).ToList();
            var describe = string.Join("; ", caseResults.Select(r => $"{(r.IsCompleted ? "completed" : r.Code)} {r.RequestId}"));
            switch (c.Outcome)
            {
                case Outcome.Completed when caseResults is not [{ IsCompleted: true }]:
                    problems.Add($"{c.Name}: expected one EmbedCompleted, got [{describe}]");
                    break;
                case Outcome.Failed or Outcome.FailedAndErrorQueue when caseResults is not [{ IsCompleted: false } only] || only.Code != c.Code:
                    problems.Add($"{c.Name}: expected one EmbedFailed {c.Code}, got [{describe}]");
                    break;
                case Outcome.ErrorQueueOnly when caseResults.Count != 0:
                    problems.Add($"{c.Name}: expected no result, got [{describe}]");
                    break;
            }

            if (c.Outcome is Outcome.Failed && results.Errors.Count != errorsBefore)
            {
                problems.Add($"{c.Name}: a contract failure should not reach the error queue");
            }

            output.WriteLine($"{c.Name,-36} -> {c.Outcome} {c.Code} [{describe}]");
        }

        // Nothing answered twice, nothing extra.
        Assert.Equal(corpus.Count(c => c.Outcome != Outcome.ErrorQueueOnly) + corpus.Count, results.Results.Count);
        Assert.Equal(corpus.Count(c => c.Outcome is Outcome.ErrorQueueOnly or Outcome.FailedAndErrorQueue), results.Errors.Count);
        Assert.Empty(problems);
        Assert.All(results.Errors, e => Assert.False(string.IsNullOrEmpty(e.ExceptionType), "an error-queue message without the exception"));
        Assert.True(worker.Backend.IsAvailable);
    }
}
