// Parameters of main.bicep. Works with `az deployment group create -p infra/main.bicepparam` and with azd
// (azd sets AZURE_ENV_NAME). Everything not named here keeps main.bicep's default.
using './main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'snapshot')

// SystemAssigned (default) or UserAssigned.
param identityType = 'SystemAssigned'

// Only the app settings to change from the defaults of snapshot/settings.py, e.g.
// { SNAPSHOT_POLL_SCHEDULE: '0 */2 * * * *' }
param snapshotSettings = {}

// Object id of a user to grant storage data roles for local debugging; empty = none.
param deployerPrincipalId = ''

param maximumInstanceCount = 40

param instanceMemoryMB = 2048

param logRetentionInDays = 30

param tags = {
  app: 'tenant-snapshot'
}
