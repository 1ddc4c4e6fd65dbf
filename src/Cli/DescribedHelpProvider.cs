using Spectre.Console;
using Spectre.Console.Cli;
using Spectre.Console.Cli.Help;
using Spectre.Console.Rendering;

namespace AkiDb.Queue.Cli;

/// <summary>Spectre's help with one line above it that says what the tool is for (Spectre has no application description).</summary>
internal sealed class DescribedHelpProvider(ICommandAppSettings settings) : HelpProvider(settings)
{
    public const string Description = "Send texts to the AkiDb.Queue embedding worker over RabbitMQ and get their vectors back; watch and repair its queues.";

    public override IEnumerable<IRenderable> GetHeader(ICommandModel model, ICommandInfo? command) =>
        command is null ? [new Text(Description), Text.NewLine, Text.NewLine, .. base.GetHeader(model, command)] : base.GetHeader(model, command);
}
