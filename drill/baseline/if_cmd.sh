#!/bin/bash
# The article's if_cmd.sh ("How to make Pgpool-II Leader Switchover Seamless on AWS - Updating
# Route Table"), logic unchanged. Drill changes, and nothing else:
#  - `aws` resolves to drill/baseline/aws (first on the baseline pgpool's PATH), which adds
#    --endpoint-url for moto; the article's $5 (path to awscli) is passed but, as in the article,
#    unused.
#  - `/usr/bin/sudo /sbin/ip` became `/sbin/ip`: the baseline pgpool runs as root inside the
#    node's namespace, so the ip step runs as root as it would through sudo.

CMD=$1
VIP=$2
LOCAL_INTERFACE=$3
ROUTE_TABLE_ID=$4
AWSCLI=$5

TOKEN=$(curl -sX PUT "http://169.254.169.254/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")
INSTANCE_ID=$(curl -H "X-aws-ec2-metadata-token: $TOKEN" -s http://169.254.169.254/latest/meta-data/instance-id)

if [ "_${CMD}" == "_up" ]; then
    echo "running if_up_cmd"

    echo "create route entry for ${VIP}/32 if it doesn't exist"
    aws ec2 create-route --route-table-id ${ROUTE_TABLE_ID} \
        --destination-cidr-block ${VIP}/32 --instance-id ${INSTANCE_ID}

    if [ $? -ne 0 ]; then
        echo "replace route entry for ${VIP}/32"
        aws ec2 replace-route --route-table-id ${ROUTE_TABLE_ID} \
            --destination-cidr-block ${VIP}/32 --instance-id ${INSTANCE_ID} --output text
    fi

    if [ $? -ne 0 ]; then
        echo "ERROR: failed to replace route entry for ${VIP}/32"
        exit 1
    fi

    echo "assign virtual IP ${VIP}/32 to local network interface ${LOCAL_INTERFACE}"
    /sbin/ip addr add ${VIP}/32 dev ${LOCAL_INTERFACE} label ${LOCAL_INTERFACE}:1
    if [ $? -ne 0 ]; then
        echo "ERROR: failed to assign virtual IP ${VIP}/32"
        exit 1
    fi

elif [ "_${CMD}" == "_down" ]; then
    echo "running if_down_cmd"

    echo "remove virtual IP ${VIP}/32 from local network interface ${LOCAL_INTERFACE}"
    /sbin/ip addr del ${VIP}/32 dev ${LOCAL_INTERFACE}
    if [ $? -ne 0 ]; then
        echo "ERROR: failed to remove virtual IP ${VIP}/32"
    fi

    echo "remove route entry for ${VIP}/32"
    aws ec2 delete-route --route-table-id ${ROUTE_TABLE_ID} --destination-cidr-block ${VIP}/32
    if [ $? -ne 0 ]; then
        echo "ERROR: failed to remove virtual IP ${VIP}/32"
    fi

    echo "remove remaining route entry if any"
    ip route show to exact ${VIP}/32 dev ${LOCAL_INTERFACE} | xargs -r ip route delete
    ip route show table local to exact ${VIP}/32 dev ${LOCAL_INTERFACE} | xargs -r ip route delete
fi

echo "virtual IP ${VIP} ${CMD} successfully"
exit 0
