using AkiDb.Queue.Broker;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Messaging.Edges;
using AkiDb.Queue.Worker.Messaging.Queues;
using AkiDb.Queue.Worker.Requests;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Messaging;

public static class MessagingRegistration
{
    /// <summary>MassTransit on RabbitMQ: the embed-requested endpoint, plain-JSON in and out, publisher confirms.</summary>
    public static IHostApplicationBuilder AddMessaging(this IHostApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<RabbitMqOptions>(RabbitMqOptions.Section);
        // The one way to the broker, for every connection this worker opens (MassTransit's too, below).
        builder.Services.AddSingleton(sp => BrokerConnections.Create(sp.GetRequiredService<IOptions<RabbitMqOptions>>().Value.ToConnectionSettings(), RabbitMqOptions.Key));
        builder.Services.AddValidatedOptions<LimitsOptions>(LimitsOptions.Section);
        builder.Services.AddSingleton<RequestValidator>();
        builder.Services.AddSingleton<RequestParser>();
        builder.Services.AddSingleton<InferenceCircuitBreaker>();
        builder.Services.AddSingleton<MalformedMessageObserver>();
        builder.Services.AddSingleton<BrokerFlowState>();
        builder.Services.AddSingleton<BrokerFlowFilter>();
        builder.Services.AddSingleton<BrokerNodeWatch>();
        // Never idle with a reachable broker: restarts the bus (or, failing that, stops the worker) when the input endpoint stays without a consumer.
        builder.Services.AddSingleton<ConsumingWatchdog>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ConsumingWatchdog>());
        builder.Services.AddHealthChecks().AddCheck<ConsumingWatchdog>("consuming", tags: ["ready"]);
        MalformedFaultLogFilter.Register(builder.Services);
        // Before MassTransit's hosted service: a refused login or an unreachable broker is reported here, plainly.
        builder.Services.AddHostedService<BrokerConnectionProbe>();
        // Then the queues that already exist, before the bus is built (see DeferredBusHostedService): its configuration follows what this finds.
        builder.Services.TryAddSingleton<ExistingQueues>();
        builder.Services.AddHostedService<QueueArgumentCheck>();
        var usageTelemetry = builder.Configuration.ReadForComposition<Telemetry.TelemetryOptions>(Telemetry.TelemetryOptions.Section).MassTransitUsageTelemetry;
        builder.Services.AddValidatedOptions<ResultsOptions>(ResultsOptions.Section);
        builder.Services.AddSingleton<EdgeTelemetry>();
        builder.Services.AddSingleton<ResultPublisher>();
        builder.Services.AddSingleton<RequestResults>();
        builder.Services.AddSingleton<RefusedPublishObserver>();

        builder.Services.AddOptions<MassTransitHostOptions>().Configure(o =>
        {
            // The host reports itself started only once the broker connection is up, so "ready" means ready.
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromMinutes(2);
            o.StopTimeout = TimeSpan.FromSeconds(30);
            o.ConsumerStopTimeout = TimeSpan.FromSeconds(25);
        });

        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<EmbedRequestedConsumer, EmbedRequestedConsumerDefinition>();
            if (builder.Configuration.ReadForComposition<RabbitMqOptions>(RabbitMqOptions.Section).AnswerBrokerExpired)
            {
                x.AddConsumer<BrokerExpiredConsumer, BrokerExpiredConsumerDefinition>();
            }
            x.AddBrokerFlowWatch();
            if (!usageTelemetry)
            {
                // MassTransit reports usage to its authors' servers by default (and probes cloud metadata endpoints to
                // describe the host). A worker calls only what it was configured to: opt in with Telemetry:MassTransitUsageTelemetry.
                x.DisableUsageTelemetry();
            }

            x.UsingRabbitMq((context, cfg) =>
            {
                var options = context.GetRequiredService<IOptions<RabbitMqOptions>>().Value;
                var connections = context.GetRequiredService<BrokerConnections>();
                cfg.Host(connections.Url, h =>
                {
                    h.PublisherConfirmation = true;
                    h.ConnectionName(options.ConnectionName);
                    // A frozen or cut-off node keeps its TCP connection open and silent: heartbeats are what notice.
                    h.Heartbeat(connections.Settings.Heartbeat);
                    h.RequestedConnectionTimeout(connections.Settings.ConnectionTimeout);
                    if (connections.Tls)
                    {
                        h.UseSsl(s =>
                        {
                            s.ServerName = connections.Settings.TlsServerName ?? connections.Url.Host;
                            s.Protocol = System.Security.Authentication.SslProtocols.None;
                            // MassTransit accepts an untrusted chain by default: nothing is accepted that BrokerTrust refuses.
                            s.EnforcePolicyErrors(System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors | System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch |
                                                  System.Net.Security.SslPolicyErrors.RemoteCertificateNotAvailable);
                            s.CertificateValidationCallback = connections.Trust.Validate;
                            s.Certificate = connections.Trust.ClientCertificate;
                            s.UseCertificateAsAuthenticationIdentity = connections.ExternalLogin;
                        });
                    }

                    // Before each connection MassTransit opens: the same nodes (RabbitMq:ClusterNodes, in order), TLS
                    // per node, login, heartbeat and timeout as every other connection of the worker.
                    h.OnRefreshConnectionFactory = factory =>
                    {
                        connections.Apply(factory);
                        return Task.CompletedTask;
                    };
                });
                var existing = context.GetRequiredService<ExistingQueues>();
                cfg.ApplyToErrorQueues(options, existing.AsItIs(QueueRole.Error));

                // Producers in any language send plain JSON, with or without a content type; results go out as plain
                // JSON too. MassTransit's envelope format is still understood for .NET producers that use it.
                cfg.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: true);
                cfg.UseRawJsonSerializer(RawSerializerOptions.AddTransportHeaders | RawSerializerOptions.CopyHeaders, isDefault: true);
                // UseRawJsonSerializer registers a raw JSON deserializer too, and the last one added for a content type wins:
                // this one replaces it with the same options, and skips a UTF-8 byte-order mark (keep the options equal).
                cfg.AddDeserializer(new BomTolerantJsonSerializerFactory(RawSerializerOptions.AddTransportHeaders | RawSerializerOptions.CopyHeaders), isDefault: true);
                // MassTransit indents its JSON; a vector is 384 numbers, so indentation nearly doubles every result.
                cfg.ConfigureJsonSerializerOptions(json =>
                {
                    json.WriteIndented = false;
                    return json;
                });

                cfg.Message<EmbedCompleted>(m => m.SetEntityName(QueueNames.EmbedCompleted));
                cfg.Message<EmbedFailed>(m => m.SetEntityName(QueueNames.EmbedFailed));
                cfg.ConnectReceiveObserver(context.GetRequiredService<MalformedMessageObserver>());
                // Before anything reads them: MT-MessageType must not pick the consumer, MT-Response-Address and
                // MT-Fault-Address must not pick where anything is sent (see ProducerHeaders).
                cfg.ConnectReceiveObserver(new ProducerHeadersObserver());
                var nodeWatch = context.GetRequiredService<BrokerNodeWatch>();
                nodeWatch.WatchHandshakes();
                cfg.ConnectReceiveObserver(nodeWatch);
                cfg.ConnectSendObserver(nodeWatch);
                cfg.ConnectPublishObserver(nodeWatch);
                cfg.ConnectSendObserver(context.GetRequiredService<RefusedPublishObserver>());
                cfg.ConnectPublishObserver(context.GetRequiredService<RefusedPublishObserver>());
                // A consumed queue that exists with other arguments is left alone (QueueArgumentCheck said so, /health/ready says why):
                // declaring it would be refused, and MassTransit would retry that forever.
                cfg.ConfigureEndpoints(context, filter =>
                {
                    if (!existing.Consume(QueueRole.Input))
                    {
                        filter.Exclude<EmbedRequestedConsumer>();
                    }

                    if (!existing.Consume(QueueRole.Expired))
                    {
                        filter.Exclude<BrokerExpiredConsumer>();
                    }
                });
            });
        });

        DeferredBusHostedService.Replace(builder.Services);
        builder.Services.AddHostedService<ResultPathWarmup>();

        // Registered after MassTransit on purpose: the broker connection and the backend start-up run together,
        // and the host reports itself started only when both are done.
        builder.Services.AddHostedService<Hosting.InferenceReadyGate>();
        Hosting.BackPressureRegistration.AddBackPressureSignals(builder);
        builder.Services.AddHostedService<ParkingQueueDeclarer>();
        return builder;
    }
}
