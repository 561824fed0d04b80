"""RDS: the Aurora cluster, its instances (v2) and its subnet group."""

from __future__ import annotations

from typing import Any

from runbook.aws.collected import collected


class RdsCollector:
    session: Any
    _cache: dict[str, Any]

    @collected("rds", absent=("DBClusterNotFoundFault",), reads=("DescribeDBClusters",))
    def db_cluster(self, identifier: str) -> dict[str, Any] | None:
        got = self.session.client("rds").describe_db_clusters(DBClusterIdentifier=identifier)
        clusters = got.get("DBClusters", [])
        return (
            {k: str(v) if "Time" in k else v for k, v in clusters[0].items()} if clusters else None
        )

    @collected("rds", reads=("DescribeDBClusters",))
    def db_clusters(self) -> list[dict[str, Any]]:
        """Every cluster of the region: discover finds the Aurora database by its group."""
        pages = self.session.client("rds").get_paginator("describe_db_clusters").paginate()
        return [
            {k: str(v) if "Time" in k else v for k, v in c.items()}
            for page in pages
            for c in page.get("DBClusters", [])
        ]

    @collected("rds", reads=("DescribeDBInstances",))
    def db_cluster_instances(self, identifier: str) -> list[dict[str, Any]]:
        got = self.session.client("rds").describe_db_instances(
            Filters=[{"Name": "db-cluster-id", "Values": [identifier]}]
        )
        return [{k: v for k, v in i.items() if "Time" not in k} for i in got.get("DBInstances", [])]

    @collected("rds", absent=("DBSubnetGroupNotFoundFault",), reads=("DescribeDBSubnetGroups",))
    def db_subnet_group(self, name: str) -> dict[str, Any] | None:
        got = self.session.client("rds").describe_db_subnet_groups(DBSubnetGroupName=name)
        groups = got.get("DBSubnetGroups", [])
        return groups[0] if groups else None
