using System.ComponentModel;
using AkiDb.Queue.Cli.Broker;
using AkiDb.Queue.ModelText.Chunking;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Chunking;

/// <summary>The chunking options <c>publish</c> and <c>embed</c> share: sizes in tokens of the target model.</summary>
internal class ChunkingSettings : BrokerSettings
{
    [CommandOption("--chunk-tokens <N>")]
    [Description("Most tokens per chunk as the model counts them ([CLS], [SEP] included). Default: the model's limit (256 for all-MiniLM-L6-v2), so no chunk is truncated")]
    public int? ChunkTokens { get; init; }

    [CommandOption("--overlap-tokens <N>")]
    [Description("Tokens of whole words shared by consecutive chunks of a document; smaller than --chunk-tokens. Default: 25")]
    [DefaultValue(25)]
    public int OverlapTokens { get; init; } = 25;

    [CommandOption("--vocab <FILE>")]
    [Description("WordPiece vocab.txt of a model that is not bundled (with --model-max-tokens); bundled models need none")]
    public string? Vocab { get; init; }

    [CommandOption("--model-max-tokens <N>")]
    [Description("With --vocab: the model's token limit. Default: 512")]
    public int? ModelMaxTokens { get; init; }

    public override ValidationResult Validate()
    {
        if (ChunkTokens is < 3)
        {
            return ValidationResult.Error($"--chunk-tokens {ChunkTokens} is too small: a chunk needs at least 3 tokens ([CLS], a word, [SEP]).");
        }

        if (OverlapTokens < 0 || (ChunkTokens is { } chunk && OverlapTokens >= chunk))
        {
            return ValidationResult.Error($"--overlap-tokens {OverlapTokens} must be at least 0 and smaller than --chunk-tokens {ChunkTokens}.");
        }

        if (ModelMaxTokens is < 3)
        {
            return ValidationResult.Error($"--model-max-tokens {ModelMaxTokens} is too small.");
        }

        return Vocab is not null && !File.Exists(Vocab) ? ValidationResult.Error($"--vocab {Vocab} does not exist.") : base.Validate();
    }

    /// <summary>The chunker for <paramref name="model"/> (null: the worker's default); throws <see cref="ArgumentException"/> naming the flag at fault.</summary>
    public Chunker CreateChunker(string? model) =>
        new(ModelTokenizer.Load(model, Vocab, ModelMaxTokens), ChunkTokens, OverlapTokens);
}
