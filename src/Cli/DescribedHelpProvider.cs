using Spectre.Console;
using Spectre.Console.Cli;
using Spectre.Console.Cli.Help;
using Spectre.Console.Rendering;

namespace AkiDb.Queue.Cli;

/// <summary>
/// Spectre's help, with one line above it that says what the tool is for (Spectre has no application description),
/// and every description shown as the plain text it is.
/// </summary>
/// <remarks>
/// Spectre renders descriptions as console markup, so a description that mentions <c>[CLS]</c> or <c>[SEP]</c> made
/// <c>embed --help</c> and <c>publish --help</c> fail half-way with "Could not find color or style 'CLS'". Our
/// descriptions carry no markup on purpose: the help provider escapes every one (commands, arguments, options) on its
/// way to the renderer, so no description written later can break help again.
/// </remarks>
internal sealed class DescribedHelpProvider(ICommandAppSettings settings) : HelpProvider(settings)
{
    public const string Description = "Send texts to the AkiDb.Queue embedding worker over RabbitMQ and get their vectors back; watch and repair its queues.";

    public override IEnumerable<IRenderable> Write(ICommandModel model, ICommandInfo? command) =>
        base.Write(new PlainModel(model), command is null ? null : new PlainCommand(command));

    public override IEnumerable<IRenderable> GetHeader(ICommandModel model, ICommandInfo? command) =>
        command is null ? [new Text(Description), Text.NewLine, Text.NewLine, .. base.GetHeader(model, command)] : base.GetHeader(model, command);

    private static string? Plain(string? description) => description is null ? null : Markup.Escape(description);

    private static IReadOnlyList<ICommandInfo> Plain(IEnumerable<ICommandInfo> commands) => [.. commands.Select(c => new PlainCommand(c))];

    private sealed class PlainModel(ICommandModel model) : ICommandModel
    {
        public string ApplicationName => model.ApplicationName;

        public string? ApplicationVersion => model.ApplicationVersion;

        public IReadOnlyList<string[]> Examples => model.Examples;

        public IReadOnlyList<ICommandInfo> Commands => Plain(model.Commands);

        public ICommandInfo? DefaultCommand => model.DefaultCommand is { } command ? new PlainCommand(command) : null;
    }

    private sealed class PlainCommand(ICommandInfo command) : ICommandInfo
    {
        public string Name => command.Name;

        public string? Description => Plain(command.Description);

        public bool IsBranch => command.IsBranch;

        public bool IsDefaultCommand => command.IsDefaultCommand;

        public bool IsHidden => command.IsHidden;

        public IReadOnlyList<ICommandParameter> Parameters => [.. command.Parameters.Select(PlainParameter)];

        public ICommandInfo? Parent => command.Parent is { } parent ? new PlainCommand(parent) : null;

        public IReadOnlyList<string[]> Examples => command.Examples;

        public IReadOnlyList<ICommandInfo> Commands => Plain(command.Commands);

        public ICommandInfo? DefaultCommand => command.DefaultCommand is { } child ? new PlainCommand(child) : null;

        private static ICommandParameter PlainParameter(ICommandParameter parameter) => parameter switch
        {
            ICommandOption option => new PlainOption(option),
            ICommandArgument argument => new PlainArgument(argument),
            _ => parameter,
        };
    }

    private sealed class PlainOption(ICommandOption option) : ICommandOption
    {
        public IReadOnlyList<string> LongNames => option.LongNames;

        public IReadOnlyList<string> ShortNames => option.ShortNames;

        public string? ValueName => option.ValueName;

        public bool ValueIsOptional => option.ValueIsOptional;

        public bool IsFlag => option.IsFlag;

        public bool IsRequired => option.IsRequired;

        public string? Description => Plain(option.Description);

        public System.ComponentModel.DefaultValueAttribute? DefaultValue => option.DefaultValue;

        public bool IsHidden => option.IsHidden;
    }

    private sealed class PlainArgument(ICommandArgument argument) : ICommandArgument
    {
        public string Value => argument.Value;

        public int Position => argument.Position;

        public bool IsFlag => argument.IsFlag;

        public bool IsRequired => argument.IsRequired;

        public string? Description => Plain(argument.Description);

        public System.ComponentModel.DefaultValueAttribute? DefaultValue => argument.DefaultValue;

        public bool IsHidden => argument.IsHidden;
    }
}
